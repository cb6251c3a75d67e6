"""Glue job silver_to_gold: every Gold table rebuilt from Silver behind quality gates.

Arguments: --JOB_NAME, --lake_root; optional --env (default glue), --full_refresh (true/false),
--bronze_root / --silver_root / --gold_root (a layer's own bucket). Does nothing (and commits
nothing) when Silver has not changed since the last build. Then registers every table in the
configured catalog (the Glue Data Catalog on Glue), as the workflow's crawlers also do.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from lakehouse.pipeline.silver_to_gold import silver_to_gold
    from lakehouse.pipeline.workflow import register_catalog
    from lakehouse.runtime.glue import (
        COMMON_OPTIONAL,
        as_bool,
        glue_job,
        job_settings,
        resolve_args,
    )

    args = resolve_args(argv or sys.argv, ["JOB_NAME", "lake_root"], COMMON_OPTIONAL)
    settings = job_settings(args)
    with glue_job(args) as spark:
        report = silver_to_gold(settings, spark=spark, progress=print,
                                full_refresh=as_bool(args["full_refresh"]))
        register_catalog(settings, print)
    print(report.summary())
    report.raise_if_blocked()
    return 0


if __name__ == "__main__":
    sys.exit(main())
