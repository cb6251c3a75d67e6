output "alerts_topic_arn" {
  description = "SNS topic receiving Glue failure alerts."
  value       = aws_sns_topic.alerts.arn
}

output "glue_log_group_prefix" {
  description = "--custom-logGroup-prefix of the Glue jobs (log groups <prefix>/error and <prefix>/output)."
  value       = local.log_group_prefix
  # Jobs must not run before their log groups exist with retention and encryption.
  depends_on = [aws_cloudwatch_log_group.glue]
}

output "glue_log_group_arns" {
  description = "ARNs of the Glue job log groups."
  value       = [for group in aws_cloudwatch_log_group.glue : group.arn]
}
