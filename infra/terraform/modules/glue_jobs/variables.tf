variable "name_prefix" {
  description = "Prefix of job and trigger names (e.g. \"lakehouse\")."
  type        = string
}

variable "artifacts_bucket" {
  description = "Bucket for Glue scripts, the lakehouse wheel and Glue temporary files."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key (artifacts are uploaded with SSE-KMS)."
  type        = string
}

variable "job_role_arn" {
  description = "IAM role the Glue jobs run as."
  type        = string
}

variable "security_configuration_name" {
  description = "Glue security configuration the jobs run with."
  type        = string
}

variable "crawler_names" {
  description = "Every crawler of crawlers/crawlers.json; a `kind: crawler` step of the job graph starts them all."
  type        = list(string)
}

variable "lake_root" {
  description = "--lake_root: s3://<silver bucket> (silver, ops and the lake's own folders)."
  type        = string
}

variable "landing_root" {
  description = "--landing_root: s3://<landing bucket>."
  type        = string
}

variable "bronze_root" {
  description = "--bronze_root: s3://<bronze bucket>/bronze."
  type        = string
}

variable "gold_root" {
  description = "--gold_root: s3://<gold bucket>/gold."
  type        = string
}

variable "log_group_prefix" {
  description = "--custom-logGroup-prefix: Glue 5 writes to <prefix>/output and <prefix>/error."
  type        = string
}

variable "wheel_path" {
  description = "Local path of the lakehouse wheel built by `make package`; defaults to <repo>/dist/lakehouse-<version>-py3-none-any.whl."
  type        = string
  default     = null
}

variable "package_version" {
  description = "Version of the lakehouse wheel; defaults to the version in pyproject.toml."
  type        = string
  default     = null
}

variable "worker_type" {
  description = "Glue worker type."
  type        = string
  default     = "G.1X"
}

variable "number_of_workers" {
  description = "Glue workers per job run."
  type        = number
  default     = 2
}

variable "timeout_minutes" {
  description = "Job run timeout in minutes (a TIMEOUT raises an alert)."
  type        = number
  default     = 120
}

variable "schedule_enabled" {
  description = "Whether the scheduled trigger of the nightly workflow is active."
  type        = bool
  default     = true
}
