output "bucket_names" {
  description = "Bucket name per role (landing, bronze, silver, gold, athena_results, artifacts, access_logs)."
  value       = module.storage.bucket_names
}

output "lake_root" {
  description = "--lake_root of the Glue jobs (the silver bucket)."
  value       = module.storage.lake_root
}

output "landing_root" {
  description = "Where source files are uploaded (--landing_root)."
  value       = module.storage.landing_root
}

output "kms_key_arn" {
  description = "The project KMS key."
  value       = module.kms.key_arn
}

output "tokenization_secret_name" {
  description = "Secret to fill with the tokenization key (aws secretsmanager put-secret-value)."
  value       = module.secrets.secret_name
}

output "glue_database_names" {
  description = "Glue database per layer."
  value       = module.catalog.database_names
}

output "glue_job_names" {
  description = "Glue job per job step of conf/job_graph.yaml."
  value       = module.glue_jobs.job_names
}

output "glue_crawler_names" {
  description = "Glue crawlers (crawlers/crawlers.json)."
  value       = module.catalog.crawler_names
}

output "glue_workflow_name" {
  description = "The nightly Glue workflow."
  value       = module.glue_jobs.workflow_name
}

output "wheel_s3_uri" {
  description = "Where the lakehouse wheel is uploaded."
  value       = module.glue_jobs.wheel_s3_uri
}

output "athena_workgroup" {
  description = "The analysts' Athena workgroup."
  value       = module.athena.workgroup_name
}

output "athena_results_location" {
  description = "Where Athena writes query results."
  value       = module.athena.results_location
}

output "glue_job_role_arn" {
  description = "Role of the Glue jobs."
  value       = module.iam.glue_job_role_arn
}

output "analyst_role_arn" {
  description = "Role analysts assume for Athena."
  value       = module.iam.analyst_role_arn
}

output "analyst_policy_arn" {
  description = "Managed policy with the analysts' permissions."
  value       = module.iam.analyst_policy_arn
}

output "alerts_topic_arn" {
  description = "SNS topic of the Glue failure alerts."
  value       = module.monitoring.alerts_topic_arn
}

output "layer_roots" {
  description = "Per-layer roots for the command line on AWS: LAKEHOUSE_BRONZE_ROOT and LAKEHOUSE_GOLD_ROOT (silver and ops live under lake_root)."
  value = {
    bronze = "s3://${module.storage.bucket_names["bronze"]}/bronze"
    gold   = "s3://${module.storage.bucket_names["gold"]}/gold"
  }
}
