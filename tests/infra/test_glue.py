"""Glue: jobs, the nightly workflow and crawlers are built from the files that define them once
(conf/job_graph.yaml, glue_jobs/, crawlers/crawlers.json), so they cannot drift."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import yaml

from lakehouse.runtime.spark import CONTEXT_CONF
from tests.infra import tf

GLUE_JOBS = tf.MODULES / "glue_jobs"
CATALOG = tf.MODULES / "catalog"
ROOT = tf.ENVIRONMENTS / "prod"
GRAPH_FILE = tf.REPO / "conf" / "job_graph.yaml"
CRAWLERS_FILE = tf.REPO / "crawlers" / "crawlers.json"


def _graph() -> dict:
    return yaml.safe_load(GRAPH_FILE.read_text(encoding="utf-8"))


def _decoded_file(folder: Path, local: str, decoder: str) -> Path:
    """The file a ``local = <decoder>(file("..."))`` of a module reads."""
    expression = tf.compact(tf.locals_of(folder)[local])
    assert expression.startswith(f"${{{decoder}(file("), expression
    (path,) = tf.file_paths(tf.locals_of(folder)[local])
    return tf.resolve(folder, path)


def _job_arguments() -> dict[str, str]:
    return tf.mapping(tf.locals_of(GLUE_JOBS)["default_arguments"])


def _required_arguments(script: Path) -> list[str]:
    """The Glue arguments a job script requires: the list in its resolve_args(...) call."""
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "resolve_args":
            return list(ast.literal_eval(node.args[1]))
    raise AssertionError(f"{script}: no resolve_args(...) call")


# --- the job graph -------------------------------------------------------------------------


def test_job_graph_is_well_formed() -> None:
    graph = _graph()
    assert re.fullmatch(r"[\w-]+", graph["workflow"])
    assert re.fullmatch(r"cron\((\S+ ){5}\S+\)", graph["schedule"]), graph["schedule"]
    names = [step["name"] for step in graph["steps"]]
    assert len(names) == len(set(names))
    done: set[str] = set()
    for step in graph["steps"]:  # file order is a valid order: no cycles, no unknown steps
        assert step["kind"] in ("job", "crawler")
        assert set(step.get("after") or []) <= done, f"{step['name']} runs after a later step"
        done.add(step["name"])
    assert any(not step.get("after") for step in graph["steps"]), "nothing starts the workflow"


def test_job_graph_and_glue_jobs_folder_match() -> None:
    scripts = {step["script"] for step in _graph()["steps"] if step["kind"] == "job"}
    for script in scripts:
        assert (tf.REPO / script).is_file(), f"{script} is in the graph but does not exist"
    on_disk = {f"glue_jobs/{p.name}" for p in (tf.REPO / "glue_jobs").glob("*.py")
               if p.name != "__init__.py"}
    assert on_disk == scripts, f"not in conf/job_graph.yaml: {on_disk - scripts}"


def test_crawlers_run_after_every_job() -> None:
    steps = {step["name"]: step for step in _graph()["steps"]}

    def upstream(name: str) -> set[str]:
        found: set[str] = set()
        for before in steps[name].get("after") or []:
            found |= {before} | upstream(before)
        return found

    jobs = {name for name, step in steps.items() if step["kind"] == "job"}
    crawler_steps = [name for name, step in steps.items() if step["kind"] == "crawler"]
    assert crawler_steps, "the graph has no crawler step"
    for name in crawler_steps:
        assert jobs <= upstream(name), f"{name} may run before {jobs - upstream(name)}"


def test_terraform_reads_the_graph_and_does_not_copy_it() -> None:
    assert _decoded_file(GLUE_JOBS, "graph", "yamldecode") == GRAPH_FILE.resolve()
    graph = _graph()
    literals = [step["name"] for step in graph["steps"]] + [graph["schedule"]]
    for path in tf.tf_files():
        text = path.read_text(encoding="utf-8")
        for literal in literals:
            assert literal not in text, f"{path}: {literal!r} belongs in conf/job_graph.yaml only"


# --- jobs ----------------------------------------------------------------------------------


def test_job_steps_become_glue_5_jobs() -> None:
    local = tf.locals_of(GLUE_JOBS)
    assert tf.compact(local["steps"]) == "${{forstepinlocal.graph.steps:step.name=>step}}"
    assert tf.compact(local["job_steps"]) == \
        '${{forname,stepinlocal.steps:name=>stepifstep.kind=="job"}}'
    job = tf.resource("aws_glue_job", "step", "glue_jobs")
    assert tf.compact(job.body["for_each"]) == "${local.job_steps}"
    assert re.fullmatch(r"5\.\d+", job.body["glue_version"])
    command = tf.block(job.body, "command")
    assert command["name"] == "glueetl"
    assert str(command["python_version"]) == "3"
    assert tf.compact(command["script_location"]) == \
        "s3://${var.artifacts_bucket}/${aws_s3_object.script[each.key].key}"
    assert tf.compact(job.body["security_configuration"]) == "${var.security_configuration_name}"
    assert tf.compact(job.body["default_arguments"]) == "${local.default_arguments}"
    assert tf.compact(job.body["role_arn"]) == "${var.job_role_arn}"


def test_scripts_are_uploaded_from_the_repository() -> None:
    script = tf.resource("aws_s3_object", "script", "glue_jobs")
    assert tf.compact(script.body["for_each"]) == "${local.job_steps}"
    source = script.body["source"]
    assert source.endswith("/${each.value.script}")
    assert tf.resolve(GLUE_JOBS, source.removesuffix("/${each.value.script}")) == tf.REPO
    assert tf.compact(script.body["source_hash"]) == f"${{filemd5(\"{source}\")}}"
    assert tf.compact(script.body["key"]) == "glue_jobs/${basename(each.value.script)}"
    for obj in (script, tf.resource("aws_s3_object", "wheel", "glue_jobs")):
        assert obj.body["server_side_encryption"] == "aws:kms"
        assert tf.compact(obj.body["kms_key_id"]) == "${var.kms_key_arn}"


def test_job_arguments() -> None:
    args = _job_arguments()
    assert args["--datalake-formats"] == "delta"
    # every setting a Spark context reads as it starts, as the local session has them
    assert args["--conf"] == " --conf ".join([
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        *(f"{key}={value}" for key, value in CONTEXT_CONF.items())])
    assert args["--env"] == "glue"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    assert args["--enable-metrics"] == "true"
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert tf.compact(args["--additional-python-modules"]) == \
        "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
    assert args["--TempDir"].startswith("s3://${var.artifacts_bucket}/")
    for name in ("lake_root", "landing_root", "bronze_root", "gold_root"):
        assert tf.compact(args[f"--{name}"]) == f"${{var.{name}}}"
    assert "--JOB_NAME" not in args, "Glue sets --JOB_NAME itself"


def test_roots_passed_to_the_jobs_follow_the_lake_layout() -> None:
    call = tf.module_calls(ROOT)["glue_jobs"]
    assert tf.compact(call["lake_root"]) == "${module.storage.lake_root}"
    assert tf.compact(call["landing_root"]) == "${module.storage.landing_root}"
    assert tf.compact(call["bronze_root"]) == 's3://${module.storage.bucket_names["bronze"]}/bronze'
    assert tf.compact(call["gold_root"]) == 's3://${module.storage.bucket_names["gold"]}/gold'
    outputs = tf.outputs_of(tf.MODULES / "storage")
    assert tf.compact(outputs["lake_root"]["value"]) == \
        's3://${aws_s3_bucket.this["silver"].bucket}'
    assert tf.compact(outputs["landing_root"]["value"]) == \
        's3://${aws_s3_bucket.this["landing"].bucket}'


def test_every_argument_a_script_requires_is_passed() -> None:
    passed = {key.removeprefix("--") for key in _job_arguments()}
    for step in _graph()["steps"]:
        if step["kind"] != "job":
            continue
        required = _required_arguments(tf.REPO / step["script"])
        missing = set(required) - passed - {"JOB_NAME"}
        assert not missing, f"{step['script']} requires {missing}, not in default_arguments"


def test_wheel_is_the_one_make_package_builds() -> None:
    local = tf.locals_of(GLUE_JOBS)
    assert tf.resolve(GLUE_JOBS, local["repo_root"]) == tf.REPO
    # The version comes from pyproject.toml through the same regular expression Terraform uses.
    (pattern,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', local["package_version"])
    pattern = pattern.encode().decode("unicode_escape")
    version = re.search(pattern, (tf.REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = tomllib.loads((tf.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert version and version.group(1) == project["version"]
    assert local["wheel_file"] == "lakehouse-${local.package_version}-py3-none-any.whl"
    assert tf.compact(local["wheel_path"]) == \
        '${coalesce(var.wheel_path,"${local.repo_root}/dist/${local.wheel_file}")}'
    wheel = tf.resource("aws_s3_object", "wheel", "glue_jobs")
    assert wheel.body["key"] == "wheels/${local.wheel_file}"
    assert tf.compact(wheel.body["source_hash"]) == "${filemd5(local.wheel_path)}"


# --- workflow and triggers -----------------------------------------------------------------


def test_workflow_is_named_by_the_graph() -> None:
    workflow = tf.resource("aws_glue_workflow", "nightly", "glue_jobs")
    assert tf.compact(workflow.body["name"]) == "${local.graph.workflow}"


def test_step_targets_come_from_the_graph() -> None:
    local = {k: tf.compact(v) for k, v in tf.locals_of(GLUE_JOBS).items() if isinstance(v, str)}
    assert local["root_steps"] == \
        "${[forstepinlocal.graph.steps:step.nameiflength(try(step.after,[]))==0]}"
    assert local["dependent_steps"] == \
        "${{forname,stepinlocal.steps:name=>stepiflength(try(step.after,[]))>0}}"
    assert local["step_jobs"] == ("${{forname,stepinlocal.steps:name=>"
                                  "[forjob_step,jobinlocal.job_names:jobifjob_step==name]}}")
    assert local["step_crawlers"] == \
        '${{forname,stepinlocal.steps:name=>step.kind=="crawler"?var.crawler_names:[]}}'
    call = tf.module_calls(ROOT)["glue_jobs"]
    assert tf.compact(call["crawler_names"]) == "${module.catalog.crawler_names}"


def test_scheduled_trigger_starts_the_root_steps() -> None:
    trigger = tf.resource("aws_glue_trigger", "schedule", "glue_jobs")
    assert trigger.body["type"] == "SCHEDULED"
    assert tf.compact(trigger.body["schedule"]) == "${local.graph.schedule}"
    assert tf.compact(trigger.body["workflow_name"]) == "${aws_glue_workflow.nightly.name}"
    actions = tf.dynamic_blocks(trigger.body, "actions")
    assert {tf.compact(a["for_each"]) for a in actions} == {
        "${flatten([fornameinlocal.root_steps:local.step_jobs[name]])}",
        "${flatten([fornameinlocal.root_steps:local.step_crawlers[name]])}",
    }
    contents = tf.dynamic_contents(trigger.body, "actions")
    assert sorted(tf.compact(next(iter(c.values()))) for c in contents) == \
        ["${actions.value}", "${actions.value}"]
    assert {key for c in contents for key in c} == {"job_name", "crawler_name"}


def test_conditional_triggers_wait_for_every_step_before() -> None:
    trigger = tf.resource("aws_glue_trigger", "step", "glue_jobs")
    assert tf.compact(trigger.body["for_each"]) == "${local.dependent_steps}"
    assert trigger.body["type"] == "CONDITIONAL"
    assert tf.compact(trigger.body["workflow_name"]) == "${aws_glue_workflow.nightly.name}"
    predicate = tf.block(trigger.body, "predicate")
    assert predicate["logical"] == "AND"
    conditions = {tf.compact(c["for_each"]): c for c in tf.dynamic_blocks(predicate, "conditions")}
    on_jobs = conditions.pop(
        "${toset(flatten([forbeforeineach.value.after:local.step_jobs[before]]))}")
    on_crawlers = conditions.pop(
        "${toset(flatten([forbeforeineach.value.after:local.step_crawlers[before]]))}")
    assert not conditions
    (job,) = tf.blocks(on_jobs, "content")
    assert (job["state"], job["logical_operator"]) == ("SUCCEEDED", "EQUALS")
    assert tf.compact(job["job_name"]) == "${conditions.value}"
    (crawler,) = tf.blocks(on_crawlers, "content")
    assert (crawler["crawl_state"], crawler["logical_operator"]) == ("SUCCEEDED", "EQUALS")
    assert tf.compact(crawler["crawler_name"]) == "${conditions.value}"
    actions = {tf.compact(a["for_each"]) for a in tf.dynamic_blocks(trigger.body, "actions")}
    assert actions == {"${local.step_jobs[each.key]}", "${local.step_crawlers[each.key]}"}


# --- catalog and crawlers ------------------------------------------------------------------


def test_databases_per_layer_with_the_configured_prefix() -> None:
    database = tf.resource("aws_glue_catalog_database", "layer", "catalog")
    assert tf.compact(database.body["for_each"]) == "${var.layer_buckets}"
    assert tf.compact(database.body["name"]) == "${var.database_prefix}${each.key}"
    layers = tf.mapping(tf.module_calls(ROOT)["catalog"]["layer_buckets"])
    assert set(layers) == {"bronze", "silver", "gold", "ops"}
    for layer in ("bronze", "silver", "gold"):
        assert tf.compact(layers[layer]) == f'${{module.storage.bucket_names["{layer}"]}}'
    assert tf.compact(layers["ops"]) == '${module.storage.bucket_names["silver"]}'
    glue_settings = yaml.safe_load((tf.REPO / "conf" / "env" / "glue.yaml").read_text())
    expected = (glue_settings.get("catalog") or {}).get("database_prefix", "lakehouse_")
    assert tf.variables_of(ROOT)["database_prefix"]["default"] == expected


def test_crawlers_come_from_crawlers_json() -> None:
    assert _decoded_file(CATALOG, "crawler_spec", "jsondecode") == CRAWLERS_FILE.resolve()
    spec = json.loads(CRAWLERS_FILE.read_text(encoding="utf-8"))
    layers = set(tf.mapping(tf.module_calls(ROOT)["catalog"]["layer_buckets"]))
    assert spec["crawlers"], "crawlers.json lists no crawler"
    for crawler in spec["crawlers"]:
        assert crawler["layer"] in layers, f"crawler {crawler['name']}: unknown layer"
        assert crawler["tables"], f"crawler {crawler['name']} has no tables"
    crawler = tf.resource("aws_glue_crawler", "this", "catalog")
    assert tf.compact(crawler.body["for_each"]) == "${local.crawlers}"
    assert tf.compact(crawler.body["database_name"]) == \
        "${aws_glue_catalog_database.layer[each.value.layer].name}"
    assert tf.compact(crawler.body["security_configuration"]) == \
        "${aws_glue_security_configuration.this.name}"
    assert tf.compact(crawler.body["role"]) == "${var.crawler_role_arn}"
    target = tf.block(crawler.body, "delta_target")
    assert target["create_native_delta_table"] is True
    assert target["write_manifest"] is False
    assert tf.compact(target["delta_tables"]) == (
        "${[fortableineach.value.tables:"
        '"s3://${var.layer_buckets[each.value.layer]}/${each.value.layer}/${table}"]}')
    policy = tf.block(crawler.body, "schema_change_policy")
    assert policy["delete_behavior"] == "LOG"


def test_security_configuration_encrypts_everything_with_the_key() -> None:
    config = tf.resource("aws_glue_security_configuration", "this", "catalog")
    encryption = tf.block(config.body, "encryption_configuration")
    s3 = tf.block(encryption, "s3_encryption")
    logs = tf.block(encryption, "cloudwatch_encryption")
    bookmarks = tf.block(encryption, "job_bookmarks_encryption")
    assert s3["s3_encryption_mode"] == "SSE-KMS"
    assert logs["cloudwatch_encryption_mode"] == "SSE-KMS"
    assert bookmarks["job_bookmarks_encryption_mode"] == "CSE-KMS"
    for block, key in ((s3, "kms_key_arn"), (logs, "kms_key_arn"), (bookmarks, "kms_key_arn")):
        assert tf.compact(block[key]) == "${var.kms_key_arn}"
    call = tf.module_calls(ROOT)["glue_jobs"]
    assert tf.compact(call["security_configuration_name"]) == \
        "${module.catalog.security_configuration_name}"
