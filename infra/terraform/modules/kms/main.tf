# The project's customer managed key. It encrypts every bucket that holds card data (landing,
# bronze, silver, gold, Athena results, artifacts), the Glue catalog, job logs, bookmarks, the SNS
# topic and the tokenization secret (PCI DSS 3.5 / 3.6: keys managed, rotated, access restricted).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"
}

# A key policy's only resource is the key itself, which AWS spells "*" inside a key policy.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only; the account root statement is the AWS default that lets IAM policies delegate key use
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only; write actions are limited to the account root and named services
  #checkov:skip=CKV_AWS_356:Key policy: the resource of a key policy statement is always "*" (this key)
  statement {
    sid       = "AccountRootAdministersKeyAndDelegatesToIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.key_administrator_arns) > 0 ? [1] : []
    content {
      sid    = "KeyAdministrators"
      effect = "Allow"
      actions = [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
        "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
        "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
      ]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = var.key_administrator_arns
      }
    }
  }

  # CloudWatch Logs encrypts the Glue and crawler log groups of this account and region only.
  statement {
    sid    = "CloudWatchLogsEncryptLogGroups"
    effect = "Allow"
    actions = [
      "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # EventBridge rules and CloudWatch alarms publish to the KMS-encrypted SNS alert topic. This is
  # the statement AWS documents for both; no source condition, because these publishers do not
  # reliably send one to KMS and a mismatch would silently drop the failure alerts. Which rules
  # and alarms may publish at all is limited by the topic policy (modules/monitoring).
  statement {
    sid       = "AlertPublishersUseKeyForSns"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: data at rest (S3, Glue, logs, SNS, Secrets Manager)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
