"""Glue job bronze_to_silver: new landing files -> bronze.<source> -> silver.<entity>.

Arguments: --JOB_NAME, --lake_root, --landing_root; optional --env (default glue),
--full_refresh (true/false), --reprocess_from / --reprocess_to (YYYY-MM-DD: the landing files of
those days again, as ``lakehouse run --from/--to``), --bronze_root / --silver_root / --gold_root
(a layer's own bucket).
Runs the same pipeline as ``lakehouse run``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from datetime import date

    from lakehouse.errors import LakehouseError
    from lakehouse.pipeline.bronze_to_silver import bronze_to_silver
    from lakehouse.pipeline.run import Reprocess
    from lakehouse.runtime.glue import (
        COMMON_OPTIONAL,
        as_bool,
        glue_job,
        job_settings,
        resolve_args,
    )

    args = resolve_args(argv or sys.argv, ["JOB_NAME", "lake_root", "landing_root"],
                        {**COMMON_OPTIONAL, "reprocess_from": "", "reprocess_to": ""})
    settings = job_settings(args)
    try:
        days = [date.fromisoformat(args[k]) if args[k] else None
                for k in ("reprocess_from", "reprocess_to")]
    except ValueError as exc:
        raise LakehouseError(f"--reprocess_from / --reprocess_to: {exc} (use YYYY-MM-DD)"
                             ) from None
    with glue_job(args) as spark:
        report = bronze_to_silver(settings, spark=spark,
                                  full_refresh=as_bool(args["full_refresh"]), progress=print,
                                  reprocess=Reprocess(*days) if any(days) else None)
    print(report.summary())
    report.raise_if_blocked()
    return 0


if __name__ == "__main__":
    sys.exit(main())
