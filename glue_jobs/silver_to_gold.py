"""Glue job silver_to_gold: every Gold table rebuilt from Silver behind quality gates.

Arguments: --JOB_NAME, --lake_root, optional --env (default glue), --full_refresh (true/false).
Does nothing (and commits nothing) when Silver has not changed since the last build.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.pipeline.silver_to_gold import silver_to_gold
    from lakehouse.runtime.glue import as_bool, glue_job, resolve_args

    args = resolve_args(argv or sys.argv, ["JOB_NAME", "lake_root"],
                        {"env": "glue", "full_refresh": "false"})
    settings = load_settings(environment=args["env"], lake_root=args["lake_root"])
    with glue_job(args) as spark:
        report = silver_to_gold(settings, spark=spark, progress=print,
                                full_refresh=as_bool(args["full_refresh"]))
    print(report.summary())
    report.raise_if_blocked()
    return 0


if __name__ == "__main__":
    sys.exit(main())
