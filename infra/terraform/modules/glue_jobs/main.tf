# Glue jobs, the nightly workflow and its triggers, all built from conf/job_graph.yaml (the one
# job graph, also used by the local `lakehouse run`); nothing of the graph is repeated here.
#
#   kind: job      -> one aws_glue_job running glue_jobs/<script> from the artifacts bucket
#   kind: crawler  -> every crawler of crawlers/crawlers.json
#   after: []      -> started by the workflow's SCHEDULED trigger
#   after: [a, b]  -> a CONDITIONAL trigger: starts when a AND b have SUCCEEDED

locals {
  repo_root = "${path.module}/../../../.."
  graph     = yamldecode(file("${path.module}/../../../../conf/job_graph.yaml"))

  steps      = { for step in local.graph.steps : step.name => step }
  job_steps  = { for name, step in local.steps : name => step if step.kind == "job" }
  root_steps = [for step in local.graph.steps : step.name if length(try(step.after, [])) == 0]
  dependent_steps = {
    for name, step in local.steps : name => step if length(try(step.after, [])) > 0
  }

  job_names = { for name, step in local.job_steps : name => "${var.name_prefix}-${name}" }

  # What a step starts (and what a later step waits for): its Glue job, or every crawler for a
  # crawler step.
  step_jobs = {
    for name, step in local.steps : name => [for job_step, job in local.job_names : job if job_step == name]
  }
  step_crawlers = {
    for name, step in local.steps : name => step.kind == "crawler" ? var.crawler_names : []
  }

  package_version = coalesce(var.package_version,
  regex("(?m)^version\\s*=\\s*\"([^\"]+)\"", file("${local.repo_root}/pyproject.toml"))[0])
  wheel_file = "lakehouse-${local.package_version}-py3-none-any.whl"
  wheel_path = coalesce(var.wheel_path, "${local.repo_root}/dist/${local.wheel_file}")

  # --conf: Glue takes several Spark settings as one value, joined by " --conf ". The scheduler
  # mode is one a context reads as it starts (lakehouse.runtime.spark.CONTEXT_CONF): each step's
  # jobs run in a pool of their own, served fairly.
  default_arguments = {
    "--env"                              = "glue"
    "--lake_root"                        = var.lake_root
    "--landing_root"                     = var.landing_root
    "--bronze_root"                      = var.bronze_root
    "--gold_root"                        = var.gold_root
    "--datalake-formats"                 = "delta"
    "--conf"                             = "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog --conf spark.scheduler.mode=FAIR"
    "--additional-python-modules"        = "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
    "--enable-continuous-cloudwatch-log" = "true"
    "--custom-logGroup-prefix"           = var.log_group_prefix
    "--enable-metrics"                   = "true"
    "--job-bookmark-option"              = "job-bookmark-disable" # the lake keeps its own ingested-file manifest
    "--TempDir"                          = "s3://${var.artifacts_bucket}/glue-temp/"
    "--job-language"                     = "python"
  }
}

# The job scripts, uploaded from glue_jobs/ in this repository. source_hash (not etag) tracks
# changes: the ETag of an SSE-KMS object is not the MD5 of its content.
resource "aws_s3_object" "script" {
  for_each = local.job_steps

  bucket                 = var.artifacts_bucket
  key                    = "glue_jobs/${basename(each.value.script)}"
  source                 = "${path.module}/../../../../${each.value.script}"
  source_hash            = filemd5("${path.module}/../../../../${each.value.script}")
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  content_type           = "text/x-python"
}

# The lakehouse library with its configuration (conf/ is packaged inside), built by `make package`.
resource "aws_s3_object" "wheel" {
  bucket                 = var.artifacts_bucket
  key                    = "wheels/${local.wheel_file}"
  source                 = local.wheel_path
  source_hash            = filemd5(local.wheel_path)
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  content_type           = "application/zip"
}

resource "aws_glue_job" "step" {
  for_each = local.job_steps

  name                   = local.job_names[each.key]
  description            = "Lakehouse step ${each.key} (${each.value.script})"
  role_arn               = var.job_role_arn
  glue_version           = "5.0"
  worker_type            = var.worker_type
  number_of_workers      = var.number_of_workers
  timeout                = var.timeout_minutes
  max_retries            = 0
  execution_class        = "STANDARD"
  security_configuration = var.security_configuration_name

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.script[each.key].key}"
  }

  default_arguments = local.default_arguments

  execution_property {
    max_concurrent_runs = 1
  }
}

resource "aws_glue_workflow" "nightly" {
  name                = local.graph.workflow
  description         = "Nightly lakehouse run, built from conf/job_graph.yaml"
  max_concurrent_runs = 1
}

# Starts the steps without dependencies on the graph's schedule.
resource "aws_glue_trigger" "schedule" {
  name          = "${local.graph.workflow}-schedule"
  workflow_name = aws_glue_workflow.nightly.name
  type          = "SCHEDULED"
  schedule      = local.graph.schedule
  enabled       = var.schedule_enabled

  dynamic "actions" {
    for_each = flatten([for name in local.root_steps : local.step_jobs[name]])
    content {
      job_name = actions.value
    }
  }

  dynamic "actions" {
    for_each = flatten([for name in local.root_steps : local.step_crawlers[name]])
    content {
      crawler_name = actions.value
    }
  }

  depends_on = [aws_glue_job.step]
}

# One trigger per dependent step: it fires when every step in `after` has succeeded.
resource "aws_glue_trigger" "step" {
  for_each = local.dependent_steps

  name          = "${local.graph.workflow}-${each.key}"
  workflow_name = aws_glue_workflow.nightly.name
  type          = "CONDITIONAL"

  predicate {
    logical = "AND"

    dynamic "conditions" {
      for_each = toset(flatten([for before in each.value.after : local.step_jobs[before]]))
      content {
        job_name         = conditions.value
        state            = "SUCCEEDED"
        logical_operator = "EQUALS"
      }
    }

    dynamic "conditions" {
      for_each = toset(flatten([for before in each.value.after : local.step_crawlers[before]]))
      content {
        crawler_name     = conditions.value
        crawl_state      = "SUCCEEDED"
        logical_operator = "EQUALS"
      }
    }
  }

  dynamic "actions" {
    for_each = local.step_jobs[each.key]
    content {
      job_name = actions.value
    }
  }

  dynamic "actions" {
    for_each = local.step_crawlers[each.key]
    content {
      crawler_name = actions.value
    }
  }

  depends_on = [aws_glue_job.step]
}
