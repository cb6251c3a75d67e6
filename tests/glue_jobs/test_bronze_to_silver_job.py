"""The Glue entry point: nothing runs at import; run locally it drives the same pipeline."""

from __future__ import annotations

import pytest

from lakehouse.generate import generate
from lakehouse.io.lake import TableId
from lakehouse.runtime.glue import COMMON_OPTIONAL, as_bool, job_settings, resolve_args
from tests.glue_jobs.jobs import load_job


def test_arguments_are_glue_style_and_tolerate_system_arguments():
    args = resolve_args(["job.py", "--JOB_NAME", "b2s", "--lake_root", "s3://l",
                         "--landing_root", "s3://in", "--job-bookmark-option",
                         "job-bookmark-disable"], ["JOB_NAME", "lake_root", "landing_root"],
                        {"full_refresh": "false"})
    assert args == {"JOB_NAME": "b2s", "lake_root": "s3://l", "landing_root": "s3://in",
                    "full_refresh": "false"}
    with pytest.raises(SystemExit):
        resolve_args(["job.py", "--JOB_NAME", "x"], ["JOB_NAME", "lake_root"])
    assert as_bool("true") and as_bool("1") and not as_bool("false")


def test_the_arguments_terraform_passes_put_each_layer_in_its_bucket():
    """The default arguments of the Glue jobs in infra/terraform (one bucket per layer)."""
    args = resolve_args(["job.py", "--JOB_NAME", "b2s", "--lake_root", "s3://p-silver",
                         "--landing_root", "s3://p-landing", "--env", "glue",
                         "--bronze_root", "s3://p-bronze/bronze", "--gold_root",
                         "s3://p-gold/gold", "--datalake-formats", "delta"],
                        ["JOB_NAME", "lake_root", "landing_root"], COMMON_OPTIONAL)
    settings = job_settings(args)
    lake = settings.lake()
    assert lake.uri(TableId("bronze", "transactions")) == "s3://p-bronze/bronze/transactions"
    assert lake.uri(TableId("silver", "transactions")) == "s3://p-silver/silver/transactions"
    assert lake.uri(TableId("gold", "customer_summary")) == "s3://p-gold/gold/customer_summary"
    assert lake.uri(TableId("ops", "run_log")) == "s3://p-silver/ops/run_log"
    assert settings.landing_root == "s3://p-landing"
    assert settings.catalog.kind == "glue" and settings.catalog.database("gold") == \
        "lakehouse_gold"
    assert settings.tokenization.secret_id == "lakehouse/tokenization-key"
    assert not settings.tokenization.allow_local_key


@pytest.mark.integration
def test_job_runs_the_pipeline_locally(tmp_path, spark, capsys):
    generate(tmp_path / "landing", customers=10, months=1, seed=3)
    job = load_job("bronze_to_silver")
    code = job.main(["job.py", "--JOB_NAME", "bronze_to_silver", "--env", "local",
                     "--lake_root", str(tmp_path / "lake"),
                     "--landing_root", str(tmp_path / "landing")])
    assert code == 0
    assert "silver.transactions" in capsys.readouterr().out
    assert (tmp_path / "lake" / "silver" / "transactions" / "_delta_log").is_dir()
    # the days given again are read back from Bronze, as lakehouse run --from/--to does
    code = job.main(["job.py", "--JOB_NAME", "bronze_to_silver", "--env", "local",
                     "--lake_root", str(tmp_path / "lake"),
                     "--landing_root", str(tmp_path / "landing"),
                     "--reprocess_from", "2024-01-01", "--reprocess_to", "2024-01-02"])
    assert code == 0
    assert "reprocessed from Bronze" in capsys.readouterr().out


def test_a_reprocess_day_that_is_no_date_is_a_clear_error(tmp_path):
    from lakehouse.errors import LakehouseError

    job = load_job("bronze_to_silver")
    with pytest.raises(LakehouseError, match="use YYYY-MM-DD"):
        job.main(["job.py", "--JOB_NAME", "b2s", "--env", "local", "--lake_root",
                  str(tmp_path / "lake"), "--landing_root", str(tmp_path), "--reprocess_from",
                  "2024-13-01"])
