# Alerting and logs: Glue job/crawler failures go to a KMS-encrypted SNS topic, through
# EventBridge (state changes) and CloudWatch alarms (failed Spark tasks); Glue job logs land in
# KMS-encrypted log groups with a retention period.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id       = data.aws_caller_identity.current.account_id
  log_group_prefix = "/aws-glue/${var.name_prefix}"
}

# Glue 5 writes driver/executor logs to <--custom-logGroup-prefix>/error and stdout/stderr to
# <prefix>/output; creating them here sets retention and encryption before the first run.
resource "aws_cloudwatch_log_group" "glue" {
  for_each = toset(["error", "output"])

  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_event_rule" "job_failed" {
  name        = "${var.name_prefix}-glue-job-failed"
  description = "A lakehouse Glue job failed, timed out or was stopped"
  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = var.job_names
      state   = ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]
    }
  })
}

resource "aws_cloudwatch_event_rule" "crawler_failed" {
  name        = "${var.name_prefix}-glue-crawler-failed"
  description = "A lakehouse Glue crawler failed"
  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Crawler State Change"]
    detail = {
      crawlerName = var.crawler_names
      state       = ["Failed"]
    }
  })
}

resource "aws_cloudwatch_event_target" "job_failed" {
  rule      = aws_cloudwatch_event_rule.job_failed.name
  target_id = "sns-alerts"
  arn       = aws_sns_topic.alerts.arn
}

resource "aws_cloudwatch_event_target" "crawler_failed" {
  rule      = aws_cloudwatch_event_rule.crawler_failed.name
  target_id = "sns-alerts"
  arn       = aws_sns_topic.alerts.arn
}

# Failed Spark tasks in any run of a job (Glue job metrics, --enable-metrics).
resource "aws_cloudwatch_metric_alarm" "failed_tasks" {
  for_each = toset(var.job_names)

  alarm_name          = "${each.value}-failed-tasks"
  alarm_description   = "Glue job ${each.value} has failed Spark tasks"
  namespace           = "Glue"
  metric_name         = "glue.driver.aggregate.numFailedTasks"
  dimensions          = { JobName = each.value, JobRunId = "ALL", Type = "count" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "EventBridgeRulesPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.job_failed.arn, aws_cloudwatch_event_rule.crawler_failed.arn]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.name}:${local.account_id}:alarm:*"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}
