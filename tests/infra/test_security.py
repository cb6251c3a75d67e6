"""KMS, IAM, Athena, the tokenization secret and alerting."""

from __future__ import annotations

import re

import yaml

from tests.infra import tf

ROOT = tf.ENVIRONMENTS / "prod"
IAM = tf.MODULES / "iam"
GLUE_SETTINGS = tf.REPO / "conf" / "env" / "glue.yaml"

# Statements that may use Resource "*", and why: a key policy's resource is the key itself;
# cloudwatch:PutMetricData and the Athena list calls have no resource-level permissions.
STAR_RESOURCE_ALLOWED = {
    ("kms", "key", "AccountRootAdministersKeyAndDelegatesToIam"),
    ("kms", "key", "KeyAdministrators"),
    ("kms", "key", "CloudWatchLogsEncryptLogGroups"),
    ("kms", "key", "AlertPublishersUseKeyForSns"),
    ("iam", "glue_job", "GlueJobMetrics"),
    ("iam", "analyst", "AthenaListings"),
}
# Allow statements that may use a service wildcard action: the account root on its own key.
WILDCARD_ACTION_ALLOWED = {("kms", "key", "AccountRootAdministersKeyAndDelegatesToIam")}


def _glue_settings() -> dict:
    return yaml.safe_load(GLUE_SETTINGS.read_text(encoding="utf-8"))


def _statements(document: tf.Block) -> list[dict]:
    return tf.blocks(document.body, "statement") + tf.dynamic_contents(document.body, "statement")


def _statement(module: str, document: str, sid: str) -> dict:
    found = [s for s in _statements(tf.data_source("aws_iam_policy_document", document, module))
             if s.get("sid") == sid]
    assert len(found) == 1, f"{module}.{document}: statement {sid}"
    return found[0]


def _all_statements() -> list[tuple[tf.Block, dict]]:
    return [(doc, statement) for doc in tf.data_sources("aws_iam_policy_document")
            for statement in _statements(doc)]


# --- KMS -----------------------------------------------------------------------------------


def test_kms_key_rotates_and_has_a_policy() -> None:
    key = tf.resource("aws_kms_key", "this", "kms")
    assert key.body["enable_key_rotation"] is True
    assert tf.compact(key.body["policy"]) == "${data.aws_iam_policy_document.key.json}"
    assert 7 <= int(tf.variables_of(tf.MODULES / "kms")["deletion_window_in_days"]["default"]) <= 30
    logs = _statement("kms", "key", "CloudWatchLogsEncryptLogGroups")
    (condition,) = tf.blocks(logs, "condition")
    assert condition["variable"] == "kms:EncryptionContext:aws:logs:arn"


# --- IAM -----------------------------------------------------------------------------------


def test_no_policy_allows_every_action() -> None:
    for document, statement in _all_statements():
        actions = tf.as_list(statement.get("actions", []))
        assert "*" not in actions, f"{document.address}: Action *"
        assert not tf.blocks(statement, "not_actions") and "not_actions" not in statement
        if statement.get("effect", "Allow") == "Allow":
            wildcard = [a for a in actions if re.fullmatch(r"[\w-]+:\*", a)]
            key = (document.module, document.name, statement.get("sid"))
            assert not wildcard or key in WILDCARD_ACTION_ALLOWED, \
                f"{document.address} {statement.get('sid')}: {wildcard}"


def test_star_resources_only_where_aws_requires_them() -> None:
    for document, statement in _all_statements():
        resources = tf.as_list(statement.get("resources", []))
        if "*" in resources and statement.get("effect", "Allow") == "Allow":
            key = (document.module, document.name, statement.get("sid"))
            assert key in STAR_RESOURCE_ALLOWED, f"{key}: Resource * needs a reason"
        for principal in tf.blocks(statement, "principals"):
            if "*" in tf.as_list(principal["identifiers"]):
                assert statement["effect"] == "Deny", f"{document.address}: Allow to everyone"


def test_metrics_statement_is_limited_to_the_glue_namespace() -> None:
    statement = _statement("iam", "glue_job", "GlueJobMetrics")
    assert statement["actions"] == ["cloudwatch:PutMetricData"]
    (condition,) = tf.blocks(statement, "condition")
    assert (condition["variable"], condition["values"]) == ("cloudwatch:namespace", ["Glue"])


def test_roles_are_assumed_by_glue_of_this_account() -> None:
    trust = tf.data_source("aws_iam_policy_document", "glue_trust", "iam")
    (statement,) = _statements(trust)
    (principal,) = tf.blocks(statement, "principals")
    assert principal["identifiers"] == ["glue.amazonaws.com"]
    (condition,) = tf.blocks(statement, "condition")
    assert condition["variable"] == "aws:SourceAccount"
    for role in ("glue_job", "crawler"):
        body = tf.resource("aws_iam_role", role, "iam").body
        assert tf.compact(body["assume_role_policy"]) == \
            "${data.aws_iam_policy_document.glue_trust.json}"
        policy = tf.resource("aws_iam_role_policy", role, "iam").body
        assert tf.compact(policy["policy"]) == f"${{data.aws_iam_policy_document.{role}.json}}"


def test_glue_job_role_scope() -> None:
    def resources(sid: str) -> set[str]:
        return {tf.compact(r) for r in tf.as_list(_statement("iam", "glue_job", sid)["resources"])}

    assert resources("ReadLanding") == {'${local.b["landing"]}/*'}
    assert resources("ReadWriteLake") == {
        '${local.b["bronze"]}/bronze/*', '${local.b["silver"]}/*', '${local.b["gold"]}/gold/*'}
    assert resources("ReadArtifacts") == {
        '${local.b["artifacts"]}/glue_jobs/*', '${local.b["artifacts"]}/wheels/*'}
    assert resources("UseProjectKey") == {"${var.kms_key_arn}"}
    assert resources("CatalogOfProjectDatabases") == {"${local.glue_all_databases}"}
    assert resources("ReadTokenizationKey") == {"${var.tokenization_secret_arn}"}
    for sid in ("ReadLanding", "ReadArtifacts"):
        assert set(_statement("iam", "glue_job", sid)["actions"]) <= \
            {"s3:GetObject", "s3:GetObjectVersion"}, f"{sid} must be read-only"


def test_only_the_glue_job_role_reads_the_secret() -> None:
    for document, statement in _all_statements():
        if any(a.startswith("secretsmanager:") for a in tf.as_list(statement.get("actions", []))):
            assert (document.module, document.name) == ("iam", "glue_job"), document.address


def test_crawler_role_reads_table_folders_only() -> None:
    read = _statement("iam", "crawler", "ReadTableFolders")
    assert read["actions"] == ["s3:GetObject"]
    assert tf.compact(read["resources"]) == \
        "${[forlayer,arninlocal.layer_bucket_arn:\"${arn}/${layer}/*\"]}"
    layer_buckets = tf.mapping(tf.locals_of(IAM)["layer_bucket_arn"])
    assert {k: tf.compact(v) for k, v in layer_buckets.items()} == {
        "bronze": '${local.b["bronze"]}', "silver": '${local.b["silver"]}',
        "gold": '${local.b["gold"]}', "ops": '${local.b["silver"]}'}
    for _, statement in [(d, s) for d, s in _all_statements() if d.name == "crawler"]:
        writes = [a for a in tf.as_list(statement.get("actions", []))
                  if a.startswith("s3:") and not a.startswith(("s3:Get", "s3:List"))]
        assert not writes, f"the crawler role writes to S3: {writes}"


def test_analyst_policy_never_reaches_bronze() -> None:
    local = tf.locals_of(IAM)
    assert tf.compact(local["analyst_layers"]) == \
        '${[forlayerinlocal.all_layers:layeriflayer!="bronze"]}'
    analyst = tf.data_source("aws_iam_policy_document", "analyst", "iam")
    for statement in _statements(analyst):
        for resource in tf.as_list(statement.get("resources", [])):
            text = tf.compact(resource)
            assert "bronze" not in text, f"{statement.get('sid')}: {resource}"
            assert "glue_all_databases" not in text, f"{statement.get('sid')}: {resource}"
            assert text != '${local.b["silver"]}/*', "the whole silver bucket includes snapshots"
    for sid in ("ListSilverPrefixes", "ListGoldPrefix"):
        (condition,) = tf.blocks(_statement("iam", "analyst", sid), "condition")
        prefixes = tf.as_list(condition["values"])
        assert condition["variable"] == "s3:prefix" and all("bronze" not in p for p in prefixes)
    key = _statement("iam", "analyst", "UseProjectKeyThroughServices")
    (condition,) = tf.blocks(key, "condition")
    assert condition["variable"] == "kms:ViaService"
    assert not any("secretsmanager" in v for v in condition["values"])
    attachment = tf.resource("aws_iam_role_policy_attachment", "analyst", "iam").body
    assert tf.compact(attachment["policy_arn"]) == "${aws_iam_policy.analyst.arn}"


def test_analyst_uses_the_workgroup() -> None:
    statement = _statement("iam", "analyst", "QueryInWorkgroup")
    assert "athena:StartQueryExecution" in statement["actions"]
    assert tf.as_list(statement["resources"]) == ["${var.athena_workgroup_arn}"]
    writes = _statement("iam", "analyst", "AthenaResultsObjects")
    assert tf.compact(writes["resources"][0]) == '${local.b["athena_results"]}/results/*'


# --- Athena --------------------------------------------------------------------------------


def test_athena_workgroup_is_enforced_encrypted_and_limited() -> None:
    workgroup = tf.resource("aws_athena_workgroup", "this", "athena")
    config = tf.block(workgroup.body, "configuration")
    assert config["enforce_workgroup_configuration"] is True
    assert config["publish_cloudwatch_metrics_enabled"] is True
    assert tf.compact(config["bytes_scanned_cutoff_per_query"]) == \
        "${var.bytes_scanned_cutoff_per_query}"
    assert tf.block(config, "engine_version")["selected_engine_version"] == \
        "Athena engine version 3"
    result = tf.block(config, "result_configuration")
    assert result["output_location"] == "s3://${var.results_bucket}/results/"
    encryption = tf.block(result, "encryption_configuration")
    assert encryption["encryption_option"] == "SSE_KMS"
    assert tf.compact(encryption["kms_key_arn"]) == "${var.kms_key_arn}"
    for folder in (tf.MODULES / "athena", ROOT):
        cutoff = tf.variables_of(folder)["bytes_scanned_cutoff_per_query"]["default"]
        assert 10 * 1024 * 1024 <= int(cutoff) <= 1024**4
    call = tf.module_calls(ROOT)["athena"]
    assert tf.compact(call["results_bucket"]) == '${module.storage.bucket_names["athena_results"]}'


def test_workgroup_name_matches_the_glue_environment() -> None:
    expected = (_glue_settings().get("athena") or {}).get("workgroup", "lakehouse")
    assert tf.variables_of(ROOT)["athena_workgroup_name"]["default"] == expected
    assert tf.compact(tf.module_calls(ROOT)["athena"]["workgroup_name"]) == \
        "${var.athena_workgroup_name}"


# --- the tokenization secret ---------------------------------------------------------------


def test_tokenization_secret_is_the_one_glue_reads() -> None:
    settings = tf.locals_of(ROOT)["glue_settings"]
    (path,) = tf.file_paths(settings)
    assert tf.compact(settings).startswith("${yamldecode(file(")
    assert tf.resolve(ROOT, path) == GLUE_SETTINGS.resolve()
    call = tf.module_calls(ROOT)["secrets"]
    assert tf.compact(call["secret_name"]) == "${local.glue_settings.tokenization.secret_id}"
    secret_id = _glue_settings()["tokenization"]["secret_id"]
    assert secret_id == "lakehouse/tokenization-key"
    secret = tf.resource("aws_secretsmanager_secret", "tokenization_key", "secrets")
    assert tf.compact(secret.body["name"]) == "${var.secret_name}"
    assert tf.compact(secret.body["kms_key_id"]) == "${var.kms_key_arn}"
    assert not tf.resources("aws_secretsmanager_secret_version"), "no key material in Terraform"
    assert f"--secret-id {secret_id}" in (tf.MODULES / "secrets" / "main.tf").read_text()


# --- monitoring ----------------------------------------------------------------------------


def test_job_failures_alert_an_encrypted_topic() -> None:
    topic = tf.resource("aws_sns_topic", "alerts", "monitoring")
    assert tf.compact(topic.body["kms_master_key_id"]) == "${var.kms_key_arn}"
    rule = tf.compact(tf.resource("aws_cloudwatch_event_rule", "job_failed", "monitoring")
                      .body["event_pattern"])
    for needle in ("source", "aws.glue", "detail-type", "GlueJobStateChange", "jobName",
                   "var.job_names", "FAILED", "TIMEOUT"):
        assert needle in rule, needle
    crawler_rule = tf.compact(tf.resource("aws_cloudwatch_event_rule", "crawler_failed",
                                          "monitoring").body["event_pattern"])
    for needle in ("GlueCrawlerStateChange", "crawlerName", "var.crawler_names", "Failed"):
        assert needle in crawler_rule, needle
    for target in tf.resources("aws_cloudwatch_event_target", "monitoring"):
        assert tf.compact(target.body["arn"]) == "${aws_sns_topic.alerts.arn}"
    alarm = tf.resource("aws_cloudwatch_metric_alarm", "failed_tasks", "monitoring")
    assert tf.as_list(alarm.body["alarm_actions"]) == ["${aws_sns_topic.alerts.arn}"]
    call = tf.module_calls(ROOT)["monitoring"]
    assert tf.compact(call["job_names"]) == "${values(module.glue_jobs.job_names)}"
    assert tf.compact(call["crawler_names"]) == "${module.catalog.crawler_names}"


def test_glue_logs_are_encrypted_and_retained() -> None:
    group = tf.resource("aws_cloudwatch_log_group", "glue", "monitoring")
    assert tf.compact(group.body["kms_key_id"]) == "${var.kms_key_arn}"
    assert tf.compact(group.body["retention_in_days"]) == "${var.log_retention_days}"
    assert tf.compact(group.body["name"]) == "${local.log_group_prefix}/${each.key}"
    for folder in (tf.MODULES / "monitoring", ROOT):
        assert int(tf.variables_of(folder)["log_retention_days"]["default"]) >= 365
    call = tf.module_calls(ROOT)["glue_jobs"]
    assert tf.compact(call["log_group_prefix"]) == "${module.monitoring.glue_log_group_prefix}"
