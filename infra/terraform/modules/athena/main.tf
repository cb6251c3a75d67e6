# The analysts' Athena workgroup. The configuration is enforced, so clients cannot send results
# elsewhere or unencrypted, nor lift the per-query scan limit.

data "aws_caller_identity" "current" {}

resource "aws_athena_workgroup" "this" {
  name        = var.workgroup_name
  description = "Lakehouse SQL over the Glue catalog (gold, silver, ops)"
  state       = "ENABLED"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${var.results_bucket}/results/"
      expected_bucket_owner = data.aws_caller_identity.current.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }

      acl_configuration {
        s3_acl_option = "BUCKET_OWNER_FULL_CONTROL"
      }
    }
  }
}
