# One bucket per lake layer plus Athena results and Glue artifacts, all hardened the same way:
# SSE-KMS with the project key (bucket key on), public access blocked, ACLs disabled, versioning,
# TLS-only bucket policy, server access logs to the logs bucket (logs.tf) and lifecycle rules.
#
# Lake layout: table <layer>.<name> lives at s3://<bucket of layer>/<layer>/<name>/. The lake root
# (--lake_root) is the silver bucket, which also holds the ops layer (ops/) and the lake's own
# folders (_quality, _snapshots, _catalog). Runs' scratch files (bronze/_staging/) are in the
# bronze bucket: a batch is staged before its quality gate, so only Bronze may hold it.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  suffix = coalesce(var.bucket_name_suffix,
  "${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}")

  # expire_days: current objects are deleted after this many days (null: never).
  buckets = {
    landing        = { expire_days = var.landing_expiration_days }
    bronze         = { expire_days = null }
    silver         = { expire_days = null }
    gold           = { expire_days = null }
    athena_results = { expire_days = var.athena_results_expiration_days }
    artifacts      = { expire_days = null }
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Single-region deployment; cross-region replication would copy card data to a second region and is a separate DR decision (versioning and Delta history cover recovery)
  #checkov:skip=CKV2_AWS_62:The pipeline runs on a schedule (Glue workflow), nothing consumes S3 event notifications
  for_each = local.buckets

  bucket        = "${var.name_prefix}-${replace(each.key, "_", "-")}-${local.suffix}"
  force_destroy = var.force_destroy

  tags = {
    Layer = each.key
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each = aws_s3_bucket.this

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${each.value.bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "housekeeping"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    dynamic "expiration" {
      for_each = local.buckets[each.key].expire_days == null ? [] : [local.buckets[each.key].expire_days]
      content {
        days = expiration.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Bronze holds PANs in clear: principals such as the analyst role are denied outright, whatever
  # IAM policies they may be given later.
  dynamic "statement" {
    for_each = each.key == "bronze" && length(var.bronze_denied_principal_arns) > 0 ? [1] : []
    content {
      sid       = "DenyCardholderDataToAnalysts"
      effect    = "Deny"
      actions   = ["s3:*"]
      resources = [each.value.arn, "${each.value.arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = var.bronze_denied_principal_arns
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
