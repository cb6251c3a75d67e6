variable "secret_name" {
  description = "Name of the tokenization key secret; must equal tokenization.secret_id in conf/env/glue.yaml."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key that encrypts the secret."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (7-30)."
  type        = number
  default     = 30
}
