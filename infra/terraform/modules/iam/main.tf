# Least-privilege roles, scoped to the project's buckets and prefixes, Glue databases, KMS key
# and secret:
#   glue job role  - reads landing, reads/writes the lake, reads artifacts, reads the tokenization
#                    secret, writes its logs
#   crawler role   - reads the Delta table folders, writes table definitions to its databases
#   analyst policy - Athena in the workgroup over silver, gold and ops; never bronze (card numbers
#                    in clear), which its bucket policy also denies (modules/storage)

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  b = var.bucket_arns

  glue_arn_prefix = "arn:${local.partition}:glue:${local.region}:${local.account_id}"
  glue_catalog    = "${local.glue_arn_prefix}:catalog"

  all_layers     = keys(var.database_names)
  analyst_layers = [for layer in local.all_layers : layer if layer != "bronze"]

  # Glue resources: the catalog, the databases and their tables.
  glue_all_databases = concat(
    [local.glue_catalog],
    [for layer in local.all_layers : "${local.glue_arn_prefix}:database/${var.database_names[layer]}"],
    [for layer in local.all_layers : "${local.glue_arn_prefix}:table/${var.database_names[layer]}/*"],
  )
  glue_analyst_databases = concat(
    [local.glue_catalog],
    [for layer in local.analyst_layers : "${local.glue_arn_prefix}:database/${var.database_names[layer]}"],
    [for layer in local.analyst_layers : "${local.glue_arn_prefix}:table/${var.database_names[layer]}/*"],
  )

  # Where each layer's tables live: s3://<bucket of layer>/<layer>/ (ops is in the silver bucket).
  layer_bucket_arn = {
    bronze = local.b["bronze"]
    silver = local.b["silver"]
    gold   = local.b["gold"]
    ops    = local.b["silver"]
  }

  logs_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group"

  analyst_principals = length(var.analyst_trusted_principal_arns) > 0 ? var.analyst_trusted_principal_arns : [
    "arn:${local.partition}:iam::${local.account_id}:root"
  ]
}

# ---------------------------------------------------------------------------------------------
# Trust: Glue, from this account only
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "glue_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Glue job role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "glue_job" {
  name               = "${var.name_prefix}-glue-job"
  description        = "Lakehouse Glue jobs (the job steps of conf/job_graph.yaml)"
  assume_role_policy = data.aws_iam_policy_document.glue_trust.json
}

data "aws_iam_policy_document" "glue_job" {
  statement {
    sid       = "ListPipelineBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.b["landing"], local.b["bronze"], local.b["silver"], local.b["gold"], local.b["artifacts"]]
  }

  statement {
    sid       = "ReadLanding"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.b["landing"]}/*"]
  }

  # bronze and gold tables live under their layer prefix (runs' scratch files under
  # bronze/_staging/); the silver bucket is the lake root (silver/, ops/ and the lake's own
  # _quality, _snapshots and _catalog folders).
  statement {
    sid = "ReadWriteLake"
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [
      "${local.b["bronze"]}/bronze/*",
      "${local.b["silver"]}/*",
      "${local.b["gold"]}/gold/*",
    ]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${local.b["artifacts"]}/glue_jobs/*", "${local.b["artifacts"]}/wheels/*"]
  }

  statement {
    sid       = "GlueTempDir"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.b["artifacts"]}/glue-temp/*"]
  }

  statement {
    sid = "UseProjectKey"
    actions = [
      "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey",
    ]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "CatalogOfProjectDatabases"
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
      "glue:UpdateTable", "glue:DeleteTable", "glue:GetPartition", "glue:GetPartitions",
      "glue:BatchGetPartition",
    ]
    resources = local.glue_all_databases
  }

  statement {
    sid       = "ReadTokenizationKey"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.tokenization_secret_arn]
  }

  # Glue creates its own log groups too (e.g. with a security configuration), all under /aws-glue/.
  statement {
    sid = "GlueLogs"
    actions = [
      "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey",
    ]
    resources = [
      "${local.logs_arn_prefix}:${var.glue_log_group_prefix}/*",
      "${local.logs_arn_prefix}:/aws-glue/*",
    ]
  }

  # cloudwatch:PutMetricData has no resource-level permissions (AWS requires "*"); it is limited
  # to the Glue namespace (--enable-metrics).
  statement {
    sid       = "GlueJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }
}

resource "aws_iam_role_policy" "glue_job" {
  name   = "${var.name_prefix}-glue-job"
  role   = aws_iam_role.glue_job.id
  policy = data.aws_iam_policy_document.glue_job.json
}

# ---------------------------------------------------------------------------------------------
# Crawler role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "crawler" {
  name               = "${var.name_prefix}-glue-crawler"
  description        = "Lakehouse Glue crawlers (Delta tables into the catalog)"
  assume_role_policy = data.aws_iam_policy_document.glue_trust.json
}

data "aws_iam_policy_document" "crawler" {
  dynamic "statement" {
    for_each = local.layer_bucket_arn
    content {
      sid       = "List${title(statement.key)}Tables"
      actions   = ["s3:ListBucket"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [statement.key, "${statement.key}/*"]
      }
    }
  }

  statement {
    sid       = "ReadTableFolders"
    actions   = ["s3:GetObject"]
    resources = [for layer, arn in local.layer_bucket_arn : "${arn}/${layer}/*"]
  }

  # Decrypt the Delta files; encrypt the (SSE-KMS) catalog entries and crawler logs.
  statement {
    sid       = "UseProjectKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "WriteCatalogOfProjectDatabases"
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
      "glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
      "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition",
      "glue:BatchUpdatePartition", "glue:CreatePartitionIndex",
    ]
    resources = local.glue_all_databases
  }

  statement {
    sid = "CrawlerLogs"
    actions = [
      "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey",
    ]
    resources = ["${local.logs_arn_prefix}:/aws-glue/crawlers*"]
  }
}

resource "aws_iam_role_policy" "crawler" {
  name   = "${var.name_prefix}-glue-crawler"
  role   = aws_iam_role.crawler.id
  policy = data.aws_iam_policy_document.crawler.json
}

# ---------------------------------------------------------------------------------------------
# Analysts: a managed policy (attach it to SSO permission sets or groups) and a role using it
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "analyst" {
  statement {
    sid = "QueryInWorkgroup"
    actions = [
      "athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
      "athena:GetQueryResults", "athena:GetQueryResultsStream", "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions", "athena:GetQueryRuntimeStatistics", "athena:GetWorkGroup",
      "athena:ListNamedQueries", "athena:GetNamedQuery", "athena:BatchGetNamedQuery",
      "athena:CreateNamedQuery", "athena:DeleteNamedQuery",
    ]
    resources = [var.athena_workgroup_arn]
  }

  statement {
    sid = "BrowseDataCatalog"
    actions = [
      "athena:GetDataCatalog", "athena:ListDatabases", "athena:GetDatabase",
      "athena:ListTableMetadata", "athena:GetTableMetadata",
    ]
    resources = ["arn:${local.partition}:athena:${local.region}:${local.account_id}:datacatalog/AwsDataCatalog"]
  }

  # These Athena list calls have no resource-level permissions; AWS requires "*".
  statement {
    sid       = "AthenaListings"
    actions   = ["athena:ListWorkGroups", "athena:ListEngineVersions", "athena:ListDataCatalogs"]
    resources = ["*"]
  }

  # Silver, gold and ops databases only: the bronze database is deliberately absent.
  statement {
    sid = "ReadCatalogExceptBronze"
    actions = [
      "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
      "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
    ]
    resources = local.glue_analyst_databases
  }

  statement {
    sid       = "ListSilverPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.b["silver"]]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["silver/*", "ops/*", "_snapshots/silver/*", "_snapshots/gold/*", "_snapshots/ops/*"]
    }
  }

  statement {
    sid       = "ListGoldPrefix"
    actions   = ["s3:ListBucket"]
    resources = [local.b["gold"]]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["gold/*"]
    }
  }

  # Tables and published snapshots (symlink manifests under _snapshots/) of silver, gold and ops.
  statement {
    sid     = "ReadSilverGoldOps"
    actions = ["s3:GetObject"]
    resources = [
      "${local.b["silver"]}/silver/*",
      "${local.b["silver"]}/ops/*",
      "${local.b["silver"]}/_snapshots/silver/*",
      "${local.b["silver"]}/_snapshots/gold/*",
      "${local.b["silver"]}/_snapshots/ops/*",
      "${local.b["gold"]}/gold/*",
    ]
  }

  statement {
    sid       = "BucketLocations"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.b["athena_results"], local.b["silver"], local.b["gold"]]
  }

  statement {
    sid       = "AthenaResultsBucket"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.b["athena_results"]]
  }

  statement {
    sid = "AthenaResultsObjects"
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.b["athena_results"]}/results/*"]
  }

  # The key only through S3, Glue and Athena: never directly, so not for the tokenization secret.
  statement {
    sid       = "UseProjectKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${local.region}.amazonaws.com",
        "glue.${local.region}.amazonaws.com",
        "athena.${local.region}.amazonaws.com",
      ]
    }
  }
}

resource "aws_iam_policy" "analyst" {
  name        = "${var.name_prefix}-analyst"
  description = "Athena SQL in the lakehouse workgroup over silver, gold and ops (no bronze)"
  policy      = data.aws_iam_policy_document.analyst.json
}

data "aws_iam_policy_document" "analyst_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = local.analyst_principals
    }
    dynamic "condition" {
      for_each = var.analyst_require_mfa ? [1] : []
      content {
        test     = "Bool"
        variable = "aws:MultiFactorAuthPresent"
        values   = ["true"]
      }
    }
  }
}

resource "aws_iam_role" "analyst" {
  name                 = "${var.name_prefix}-analyst"
  description          = "Lakehouse analysts: Athena over silver, gold and ops"
  assume_role_policy   = data.aws_iam_policy_document.analyst_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "analyst" {
  role       = aws_iam_role.analyst.name
  policy_arn = aws_iam_policy.analyst.arn
}
