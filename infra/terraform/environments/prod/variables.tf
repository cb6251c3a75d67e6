variable "region" {
  description = "AWS region of the deployment."
  type        = string
}

variable "environment" {
  description = "Environment name, used in tags."
  type        = string
  default     = "prod"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "lakehouse"
}

variable "database_prefix" {
  description = "Glue database name prefix (<prefix><layer>). Must equal catalog.database_prefix in conf/env/glue.yaml."
  type        = string
  default     = "lakehouse_"
}

variable "athena_workgroup_name" {
  description = "Athena workgroup of the analysts. Must equal athena.workgroup in conf/env/glue.yaml."
  type        = string
  default     = "lakehouse"
}

variable "bucket_name_suffix" {
  description = "Suffix making bucket names globally unique; defaults to \"<account id>-<region>\"."
  type        = string
  default     = null
}

variable "kms_key_administrator_arns" {
  description = "IAM principals that administer (not use) the project KMS key."
  type        = list(string)
  default     = []
}

variable "landing_expiration_days" {
  description = "Days landing files (PANs in clear) are kept before S3 deletes them."
  type        = number
  default     = 30
}

variable "athena_results_expiration_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 7
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena per-query scan limit in bytes."
  type        = number
  default     = 10737418240
}

variable "log_retention_days" {
  description = "Retention of the Glue log groups (PCI DSS 10.5.1: at least 12 months)."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the Glue failure alerts."
  type        = list(string)
  default     = []
}

variable "glue_worker_type" {
  description = "Glue worker type of the jobs."
  type        = string
  default     = "G.1X"
}

variable "glue_number_of_workers" {
  description = "Glue workers per job run."
  type        = number
  default     = 2
}

variable "glue_timeout_minutes" {
  description = "Glue job timeout in minutes."
  type        = number
  default     = 120
}

variable "schedule_enabled" {
  description = "Whether the nightly schedule is active."
  type        = bool
  default     = true
}

variable "wheel_path" {
  description = "Path of the wheel built by `make package`; defaults to <repo>/dist/lakehouse-<version>-py3-none-any.whl."
  type        = string
  default     = null
}

variable "analyst_trusted_principal_arns" {
  description = "Principals allowed to assume the analyst role (default: this account's IAM principals)."
  type        = list(string)
  default     = []
}

variable "analyst_require_mfa" {
  description = "Require MFA to assume the analyst role."
  type        = bool
  default     = true
}

variable "manage_catalog_encryption" {
  description = "Encrypt the account's Glue Data Catalog with the project key (per-account setting)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
