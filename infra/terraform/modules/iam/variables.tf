variable "name_prefix" {
  description = "Prefix of role and policy names (e.g. \"lakehouse\")."
  type        = string
}

variable "bucket_arns" {
  description = "Bucket ARN per role: landing, bronze, silver, gold, athena_results, artifacts."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key."
  type        = string
}

variable "tokenization_secret_arn" {
  description = "ARN of the tokenization key secret (readable by the Glue job role only)."
  type        = string
}

variable "database_names" {
  description = "Glue database name per layer (bronze, silver, gold, ops)."
  type        = map(string)
}

variable "athena_workgroup_arn" {
  description = "ARN of the analysts' Athena workgroup."
  type        = string
}

variable "glue_log_group_prefix" {
  description = "Prefix of the Glue job log groups (--custom-logGroup-prefix)."
  type        = string
}

variable "analyst_trusted_principal_arns" {
  description = "Principals allowed to assume the analyst role (default: IAM users and roles of this account that their own policies allow to)."
  type        = list(string)
  default     = []
}

variable "analyst_require_mfa" {
  description = "Require MFA when assuming the analyst role (turn off for federated/SSO principals, whose MFA happens at the identity provider)."
  type        = bool
  default     = true
}
