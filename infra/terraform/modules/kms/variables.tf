variable "name_prefix" {
  description = "Prefix for the key alias and descriptions (e.g. \"lakehouse\")."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion completes (7-30 days)."
  type        = number
  default     = 30
}

variable "key_administrator_arns" {
  description = "IAM principals allowed to administer (not use) the key. The account root is always a key administrator so IAM policies can delegate use of the key."
  type        = list(string)
  default     = []
}
