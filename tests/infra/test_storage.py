"""S3: one hardened bucket per role; every bucket encrypted, private, TLS-only, logged,
versioned and under lifecycle rules."""

from __future__ import annotations

import re

from tests.infra import tf

EXPECTED_BUCKETS = {"landing", "bronze", "silver", "gold", "athena_results", "artifacts"}
COMPANIONS = ("aws_s3_bucket_server_side_encryption_configuration",
              "aws_s3_bucket_public_access_block", "aws_s3_bucket_policy",
              "aws_s3_bucket_versioning", "aws_s3_bucket_lifecycle_configuration",
              "aws_s3_bucket_ownership_controls", "aws_s3_bucket_logging")
LOGS_BUCKET = "logs"  # the access-log target: SSE-S3 (S3 requires it) and not logged itself


def _companions(bucket: tf.Block, type_: str) -> list[tf.Block]:
    """Resources of ``type_`` attached to ``bucket`` (directly, or for_each over it)."""
    ref = f"aws_s3_bucket.{bucket.name}"
    found = []
    for other in tf.resources(type_, bucket.module):
        target = tf.compact(other.body.get("bucket", ""))
        for_each = tf.compact(other.body.get("for_each", ""))
        if target.startswith(f"${{{ref}.") or (
                for_each == f"${{{ref}}}" and target == "${each.value.id}"):
            found.append(other)
    return found


def _policy_document(policy: tf.Block) -> tf.Block:
    match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)(\[each\.key\])?\.json\}",
                         tf.compact(policy.body["policy"]))
    assert match, f"{policy.address}: policy is not an aws_iam_policy_document"
    return tf.data_source("aws_iam_policy_document", match.group(1), policy.module)


def _statements(document: tf.Block) -> list[dict]:
    return tf.blocks(document.body, "statement") + tf.dynamic_contents(document.body, "statement")


def test_buckets_are_the_expected_set() -> None:
    buckets = tf.resources("aws_s3_bucket")
    assert {b.module for b in buckets} == {"storage"}, "buckets belong to modules/storage"
    assert {b.name for b in buckets} == {"this", LOGS_BUCKET}
    lake = tf.resource("aws_s3_bucket", "this", "storage")
    assert tf.compact(lake.body["for_each"]) == "${local.buckets}"
    assert set(tf.mapping(tf.locals_of(tf.MODULES / "storage")["buckets"])) == EXPECTED_BUCKETS


def test_every_bucket_has_all_companions() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        for type_ in COMPANIONS:
            found = _companions(bucket, type_)
            if type_ == "aws_s3_bucket_logging" and bucket.name == LOGS_BUCKET:
                assert not found, "the access-log bucket must not log into itself"
                continue
            assert len(found) == 1, f"{bucket.address}: {len(found)} {type_}"


def test_data_buckets_use_sse_kms_with_the_project_key() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        (config,) = _companions(bucket, "aws_s3_bucket_server_side_encryption_configuration")
        rule = tf.block(config.body, "rule")
        default = tf.block(rule, "apply_server_side_encryption_by_default")
        if bucket.name == LOGS_BUCKET:
            # S3 server access logs can only be delivered to SSE-S3 buckets.
            assert default["sse_algorithm"] == "AES256"
            assert "CKV_AWS_145" in (tf.MODULES / "storage" / "logs.tf").read_text()
            continue
        assert default["sse_algorithm"] == "aws:kms"
        assert tf.compact(default["kms_master_key_id"]) == "${var.kms_key_arn}"
        assert rule["bucket_key_enabled"] is True


def test_public_access_is_blocked_everywhere() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        (block,) = _companions(bucket, "aws_s3_bucket_public_access_block")
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                     "restrict_public_buckets"):
            assert block.body[flag] is True, f"{bucket.address}: {flag}"


def test_bucket_policies_deny_insecure_transport() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        (policy,) = _companions(bucket, "aws_s3_bucket_policy")
        document = _policy_document(policy)
        tls = [s for s in _statements(document)
               if s.get("effect") == "Deny"
               and any(c.get("variable") == "aws:SecureTransport"
                       and tf.as_list(c.get("values")) == ["false"] and c.get("test") == "Bool"
                       for c in tf.blocks(s, "condition"))]
        assert len(tls) == 1, f"{bucket.address}: no TLS-only statement"
        resources = {tf.compact(r) for r in tls[0]["resources"]}
        arn = ("${each.value.arn}" if bucket.name == "this"
               else f"${{aws_s3_bucket.{bucket.name}.arn}}")
        assert resources == {arn, arn + "/*"}
        assert tf.as_list(tls[0]["actions"]) == ["s3:*"]


def test_bronze_bucket_denies_the_analyst_role() -> None:
    document = tf.data_source("aws_iam_policy_document", "bucket", "storage")
    (dynamic,) = tf.dynamic_blocks(document.body, "statement")
    assert tf.compact(dynamic["for_each"]).startswith('${each.key=="bronze"&&')
    (content,) = tf.blocks(dynamic, "content")
    assert content["effect"] == "Deny"
    (condition,) = tf.blocks(content, "condition")
    assert condition["variable"] == "aws:PrincipalArn"
    assert tf.compact(condition["values"]) == "${var.bronze_denied_principal_arns}"
    storage = tf.module_calls(tf.ENVIRONMENTS / "prod")["storage"]
    assert "module.iam.analyst_role_arn" in tf.compact(storage["bronze_denied_principal_arns"])


def test_access_logging_goes_to_the_logs_bucket() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        if bucket.name == LOGS_BUCKET:
            continue
        (logging,) = _companions(bucket, "aws_s3_bucket_logging")
        assert tf.compact(logging.body["target_bucket"]) == f"${{aws_s3_bucket.{LOGS_BUCKET}.id}}"
    policy = _policy_document(tf.resource("aws_s3_bucket_policy", LOGS_BUCKET, "storage"))
    delivery = [s for s in _statements(policy)
                if any(p.get("identifiers") == ["logging.s3.amazonaws.com"]
                       for p in tf.blocks(s, "principals"))]
    assert delivery, "the logs bucket must let S3 log delivery write"


def test_versioning_and_lifecycle_rules() -> None:
    for bucket in tf.resources("aws_s3_bucket"):
        (versioning,) = _companions(bucket, "aws_s3_bucket_versioning")
        assert tf.block(versioning.body, "versioning_configuration")["status"] == "Enabled"
        (lifecycle,) = _companions(bucket, "aws_s3_bucket_lifecycle_configuration")
        rules = tf.blocks(lifecycle.body, "rule")
        assert rules and all(r["status"] == "Enabled" for r in rules)
        assert any(tf.blocks(r, "abort_incomplete_multipart_upload") for r in rules)
        assert any(tf.blocks(r, "noncurrent_version_expiration") for r in rules)
    logs = tf.resource("aws_s3_bucket_lifecycle_configuration", LOGS_BUCKET, "storage")
    assert tf.blocks(tf.block(logs.body, "rule"), "expiration")
    # Landing (PANs in clear) and Athena results expire; the lake tables do not.
    buckets = tf.mapping(tf.locals_of(tf.MODULES / "storage")["buckets"])
    expiring = {name for name, spec in buckets.items()
                if tf.mapping(spec)["expire_days"] is not None}
    assert expiring == {"landing", "athena_results"}
    lake = tf.resource("aws_s3_bucket_lifecycle_configuration", "this", "storage")
    assert tf.dynamic_blocks(tf.block(lake.body, "rule"), "expiration")
