# The tokenization key (HMAC key that turns PANs into tokens in Silver). Terraform creates the
# secret container only: the value never passes through Terraform code, plan or state. Set it
# once, from a machine trusted to handle key material, e.g.
#
#   aws secretsmanager put-secret-value --secret-id lakehouse/tokenization-key \
#     --secret-string "$(openssl rand -hex 32)"
#
# Only the Glue job role may read it (modules/iam).

resource "aws_secretsmanager_secret" "tokenization_key" {
  #checkov:skip=CKV2_AWS_57:Automatic rotation would silently change every token (tokens are join keys across Silver and Gold); rotation is a planned re-tokenisation with a full refresh, run by hand (PCI DSS 3.7 key-management procedure)
  name                    = var.secret_name
  description             = "Tokenization (HMAC) key for card numbers; read only by the lakehouse Glue jobs"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
}
