output "secret_arn" {
  description = "ARN of the tokenization key secret."
  value       = aws_secretsmanager_secret.tokenization_key.arn
}

output "secret_name" {
  description = "Name (secret id) of the tokenization key secret."
  value       = aws_secretsmanager_secret.tokenization_key.name
}
