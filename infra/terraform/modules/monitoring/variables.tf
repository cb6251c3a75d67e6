variable "name_prefix" {
  description = "Prefix of topic, rule, alarm and log group names (e.g. \"lakehouse\")."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the project KMS key (SNS topic and log group encryption)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the Glue log groups (PCI DSS 10.5.1: at least 12 months)."
  type        = number
  default     = 365
}

variable "job_names" {
  description = "Glue job names to watch."
  type        = list(string)
}

variable "crawler_names" {
  description = "Glue crawler names to watch."
  type        = list(string)
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alert topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}
