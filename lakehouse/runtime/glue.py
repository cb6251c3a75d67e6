"""Glue job plumbing: arguments through ``getResolvedOptions`` on Glue, argparse elsewhere, and
``Job.init`` / ``Job.commit`` around the work. ``awsglue`` is imported only on Glue."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from lakehouse.runtime.spark import running_on_glue


def resolve_args(argv: Sequence[str], required: Sequence[str],
                 optional: dict[str, str] | None = None) -> dict[str, str]:
    """Glue-style ``--NAME value`` arguments; ``optional`` gives defaults."""
    optional = optional or {}
    if running_on_glue():
        from awsglue.utils import getResolvedOptions

        present = [name for name in optional if f"--{name}" in argv]
        resolved = getResolvedOptions(list(argv), [*required, *present])
        return {**optional, **resolved}
    parser = argparse.ArgumentParser(prog=argv[0] if argv else "glue-job")
    for name in required:
        parser.add_argument(f"--{name}", required=True)
    for name, default in optional.items():
        parser.add_argument(f"--{name}", default=default)
    known, _ = parser.parse_known_args(list(argv[1:]))  # Glue passes extra system arguments
    return {k: v for k, v in vars(known).items()}


# Optional arguments every job takes: the environment overlay and per-layer roots (on AWS each
# layer has its own bucket; empty means <lake_root>/<layer>).
COMMON_OPTIONAL = {"env": "glue", "full_refresh": "false", "bronze_root": "", "silver_root": "",
                   "gold_root": ""}


def job_settings(args: dict[str, str]) -> Any:
    """The run's settings from a job's resolved arguments."""
    from lakehouse.config import load_settings

    layer_roots = {layer: args[f"{layer}_root"] for layer in ("bronze", "silver", "gold")
                   if args.get(f"{layer}_root")}
    return load_settings(environment=args["env"], lake_root=args["lake_root"],
                         landing_root=args.get("landing_root"), layer_roots=layer_roots or None)


def as_bool(value: str | None) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "y")


@contextlib.contextmanager
def glue_job(args: dict[str, str]) -> Iterator[Any]:
    """The job's Spark session; on Glue the job is initialised and committed (job bookmarks)."""
    from lakehouse.runtime.spark import get_spark

    spark = get_spark()
    if not running_on_glue():
        yield spark
        return
    from awsglue.context import GlueContext
    from awsglue.job import Job

    job = Job(GlueContext(spark.sparkContext))
    job.init(args["JOB_NAME"], args)
    yield spark
    job.commit()
