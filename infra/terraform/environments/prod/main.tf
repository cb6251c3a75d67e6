# The production lakehouse: one KMS key, buckets per layer, the Glue catalog, jobs and nightly
# workflow (from conf/job_graph.yaml), the Athena workgroup, IAM roles, secrets and alerts.
# Build the wheel first (`make package` at the repository root): the jobs load it from S3.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({
      Project            = "lakehouse"
      Environment        = var.environment
      ManagedBy          = "terraform"
      DataClassification = "pci-cardholder-data"
    }, var.tags)
  }
}

locals {
  # The Glue environment of the application; the secret it reads is named there, once.
  glue_settings = yamldecode(file("${path.module}/../../../../conf/env/glue.yaml"))
}

module "kms" {
  source = "../../modules/kms"

  name_prefix            = var.name_prefix
  key_administrator_arns = var.kms_key_administrator_arns
}

module "storage" {
  source = "../../modules/storage"

  name_prefix                    = var.name_prefix
  bucket_name_suffix             = var.bucket_name_suffix
  kms_key_arn                    = module.kms.key_arn
  landing_expiration_days        = var.landing_expiration_days
  athena_results_expiration_days = var.athena_results_expiration_days
  bronze_denied_principal_arns   = [module.iam.analyst_role_arn]
}

module "secrets" {
  source = "../../modules/secrets"

  secret_name = local.glue_settings.tokenization.secret_id
  kms_key_arn = module.kms.key_arn
}

module "catalog" {
  source = "../../modules/catalog"

  name_prefix     = var.name_prefix
  database_prefix = var.database_prefix
  layer_buckets = {
    bronze = module.storage.bucket_names["bronze"]
    silver = module.storage.bucket_names["silver"]
    gold   = module.storage.bucket_names["gold"]
    ops    = module.storage.bucket_names["silver"] # ops lives in the lake root (silver bucket)
  }
  kms_key_arn               = module.kms.key_arn
  crawler_role_arn          = module.iam.crawler_role_arn
  manage_catalog_encryption = var.manage_catalog_encryption
}

module "athena" {
  source = "../../modules/athena"

  workgroup_name                 = var.athena_workgroup_name
  results_bucket                 = module.storage.bucket_names["athena_results"]
  kms_key_arn                    = module.kms.key_arn
  bytes_scanned_cutoff_per_query = var.bytes_scanned_cutoff_per_query
}

module "iam" {
  source = "../../modules/iam"

  name_prefix                    = var.name_prefix
  bucket_arns                    = module.storage.bucket_arns
  kms_key_arn                    = module.kms.key_arn
  tokenization_secret_arn        = module.secrets.secret_arn
  database_names                 = module.catalog.database_names
  athena_workgroup_arn           = module.athena.workgroup_arn
  glue_log_group_prefix          = module.monitoring.glue_log_group_prefix
  analyst_trusted_principal_arns = var.analyst_trusted_principal_arns
  analyst_require_mfa            = var.analyst_require_mfa
}

module "glue_jobs" {
  source = "../../modules/glue_jobs"

  name_prefix                 = var.name_prefix
  artifacts_bucket            = module.storage.bucket_names["artifacts"]
  kms_key_arn                 = module.kms.key_arn
  job_role_arn                = module.iam.glue_job_role_arn
  security_configuration_name = module.catalog.security_configuration_name
  crawler_names               = module.catalog.crawler_names
  lake_root                   = module.storage.lake_root
  landing_root                = module.storage.landing_root
  bronze_root                 = "s3://${module.storage.bucket_names["bronze"]}/bronze"
  gold_root                   = "s3://${module.storage.bucket_names["gold"]}/gold"
  log_group_prefix            = module.monitoring.glue_log_group_prefix
  wheel_path                  = var.wheel_path
  worker_type                 = var.glue_worker_type
  number_of_workers           = var.glue_number_of_workers
  timeout_minutes             = var.glue_timeout_minutes
  schedule_enabled            = var.schedule_enabled
}

module "monitoring" {
  source = "../../modules/monitoring"

  name_prefix        = var.name_prefix
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
  job_names          = values(module.glue_jobs.job_names)
  crawler_names      = module.catalog.crawler_names
  alarm_emails       = var.alarm_emails
}
