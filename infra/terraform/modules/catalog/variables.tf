variable "name_prefix" {
  description = "Prefix of crawler and security configuration names (e.g. \"lakehouse\")."
  type        = string
}

variable "database_prefix" {
  description = "Glue database name prefix; database = <prefix><layer>. Must equal catalog.database_prefix in conf/env/glue.yaml."
  type        = string
}

variable "layer_buckets" {
  description = "Bucket name per layer: bronze, silver, gold and ops (ops lives in the silver bucket)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key."
  type        = string
}

variable "crawler_role_arn" {
  description = "IAM role the crawlers run as."
  type        = string
}

variable "manage_catalog_encryption" {
  description = "Set the account/region Glue Data Catalog encryption (metadata and connection passwords) to the project key. It is a per-account singleton: turn off if another stack already manages it."
  type        = bool
  default     = true
}
