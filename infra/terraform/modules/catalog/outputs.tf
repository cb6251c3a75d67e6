output "database_names" {
  description = "Glue database name per layer."
  value       = { for layer, db in aws_glue_catalog_database.layer : layer => db.name }
}

output "crawler_names" {
  description = "Names of the crawlers, one per entry of crawlers/crawlers.json."
  value       = [for crawler in aws_glue_crawler.this : crawler.name]
}

output "crawler_arns" {
  description = "ARNs of the crawlers."
  value       = [for crawler in aws_glue_crawler.this : crawler.arn]
}

output "security_configuration_name" {
  description = "Glue security configuration (S3 SSE-KMS, CloudWatch and bookmark encryption)."
  value       = aws_glue_security_configuration.this.name
}
