"""Glue job bronze_to_silver: new landing files -> bronze.<source> -> silver.<entity>.

Arguments: --JOB_NAME, --lake_root, --landing_root; optional --env (default glue),
--full_refresh (true/false), --bronze_root / --silver_root / --gold_root (a layer's own bucket).
Runs the same pipeline as ``lakehouse run``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from lakehouse.pipeline.bronze_to_silver import bronze_to_silver
    from lakehouse.runtime.glue import (
        COMMON_OPTIONAL,
        as_bool,
        glue_job,
        job_settings,
        resolve_args,
    )

    args = resolve_args(argv or sys.argv, ["JOB_NAME", "lake_root", "landing_root"],
                        COMMON_OPTIONAL)
    settings = job_settings(args)
    with glue_job(args) as spark:
        report = bronze_to_silver(settings, spark=spark,
                                  full_refresh=as_bool(args["full_refresh"]), progress=print)
    print(report.summary())
    report.raise_if_blocked()
    return 0


if __name__ == "__main__":
    sys.exit(main())
