output "bucket_names" {
  description = "Bucket name per role: landing, bronze, silver, gold, athena_results, artifacts, access_logs."
  value = merge(
    { for key, bucket in aws_s3_bucket.this : key => bucket.bucket },
    { access_logs = aws_s3_bucket.logs.bucket },
  )
}

output "bucket_arns" {
  description = "Bucket ARN per role (same keys as bucket_names)."
  value = merge(
    { for key, bucket in aws_s3_bucket.this : key => bucket.arn },
    { access_logs = aws_s3_bucket.logs.arn },
  )
}

output "lake_root" {
  description = "The lake root passed to the Glue jobs (--lake_root): the silver bucket."
  value       = "s3://${aws_s3_bucket.this["silver"].bucket}"
}

output "landing_root" {
  description = "Where source files land (--landing_root)."
  value       = "s3://${aws_s3_bucket.this["landing"].bucket}"
}
