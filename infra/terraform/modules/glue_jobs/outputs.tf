output "job_names" {
  description = "Glue job name per job step of conf/job_graph.yaml."
  value       = { for name, job in aws_glue_job.step : name => job.name }
}

output "job_arns" {
  description = "Glue job ARNs."
  value       = [for job in aws_glue_job.step : job.arn]
}

output "workflow_name" {
  description = "Name of the nightly Glue workflow (workflow in conf/job_graph.yaml)."
  value       = aws_glue_workflow.nightly.name
}

output "wheel_s3_uri" {
  description = "Where the lakehouse wheel is uploaded (--additional-python-modules)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
}
