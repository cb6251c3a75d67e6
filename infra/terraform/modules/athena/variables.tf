variable "workgroup_name" {
  description = "Name of the Athena workgroup; must equal athena.workgroup in conf/env/glue.yaml."
  type        = string
}

variable "results_bucket" {
  description = "Bucket for Athena query results."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key; query results are written with SSE-KMS."
  type        = string
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query that scans more than this many bytes (minimum 10 MB)."
  type        = number
  default     = 10737418240 # 10 GiB
}
