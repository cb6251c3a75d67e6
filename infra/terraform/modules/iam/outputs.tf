output "glue_job_role_arn" {
  description = "Role of the Glue jobs."
  value       = aws_iam_role.glue_job.arn
}

output "crawler_role_arn" {
  description = "Role of the Glue crawlers."
  value       = aws_iam_role.crawler.arn
}

output "analyst_role_arn" {
  description = "Role analysts assume for Athena."
  value       = aws_iam_role.analyst.arn
}

output "analyst_policy_arn" {
  description = "Managed policy with the analysts' permissions (attach to SSO permission sets or groups)."
  value       = aws_iam_policy.analyst.arn
}
