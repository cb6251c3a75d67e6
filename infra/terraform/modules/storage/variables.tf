variable "name_prefix" {
  description = "Prefix of every bucket name (e.g. \"lakehouse\")."
  type        = string
}

variable "bucket_name_suffix" {
  description = "Suffix that makes the bucket names globally unique; defaults to \"<account id>-<region>\"."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key (SSE-KMS default encryption of the data buckets)."
  type        = string
}

variable "landing_expiration_days" {
  description = "Days a landing file is kept after upload. Bronze keeps the ingested rows, so landing only needs to cover late re-runs; keep it short because landing files hold PANs in clear (PCI DSS 3.2.1)."
  type        = number
  default     = 30
}

variable "athena_results_expiration_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days a superseded object version is kept (Delta keeps its own history in the log)."
  type        = number
  default     = 30
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept (PCI DSS 10.5.1: at least 12 months)."
  type        = number
  default     = 400
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7
}

variable "bronze_denied_principal_arns" {
  description = "Principals (e.g. the analyst role) explicitly denied any access to the bronze bucket, which holds card numbers in clear. Defence in depth on top of their IAM policy."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete non-empty buckets. Keep false outside throwaway environments."
  type        = bool
  default     = false
}
