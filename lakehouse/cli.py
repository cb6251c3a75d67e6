"""The ``lakehouse`` command line.

Exit codes: 0 success, 2 a quality gate blocked publishing, 1 anything else, always with a
one-line reason on stderr (``--verbose`` adds the traceback for unexpected errors).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import NoReturn

from lakehouse.errors import LakehouseError
from lakehouse.pii.card import redact_pans
from lakehouse.pipeline.run import NOT_WITH_FULL_REFRESH, Reprocess, RunReport

log = logging.getLogger("lakehouse")


class _Progress:
    """Progress lines on stderr with the time since the command started."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=sys.stderr,
                  flush=True)


def _settings(args: argparse.Namespace):
    from lakehouse.config import load_settings

    return load_settings(getattr(args, "conf", None),
                         lake_root=getattr(args, "lake", None),
                         landing_root=getattr(args, "landing", None),
                         environment=getattr(args, "env", None),
                         lock_wait_s=getattr(args, "wait", None))


def cmd_generate(args: argparse.Namespace) -> int:
    from lakehouse.generate import generate

    progress = _Progress(args.quiet)
    try:
        summary = generate(Path(args.out), customers=args.customers, months=args.months,
                           seed=args.seed, defect_rate=args.defect_rate,
                           start=args.start, progress=progress)
    except ValueError as exc:
        raise LakehouseError(str(exc)) from None
    print(summary.describe())
    return 0


def _run(args: argparse.Namespace, progress: _Progress) -> RunReport:
    from lakehouse.pipeline.workflow import run_workflow

    settings = _settings(args)
    if not Path(settings.landing_root).is_dir() and "://" not in settings.landing_root:
        raise LakehouseError(f"landing folder not found: {settings.landing_root} "
                             "(create it, pass --landing, or run 'lakehouse generate')")
    progress(f"lake {settings.lake_root}, landing {settings.landing_root}")
    first, last = getattr(args, "from_date", None), getattr(args, "to_date", None)
    reprocess = Reprocess(first, last) if first or last else None
    if reprocess is not None and args.full_refresh:
        raise LakehouseError(NOT_WITH_FULL_REFRESH)
    report = run_workflow(settings, full_refresh=args.full_refresh, progress=progress,
                          reprocess=reprocess)
    print(report.summary())
    report.raise_if_blocked()
    return report


def cmd_run(args: argparse.Namespace) -> int:
    _run(args, _Progress(args.quiet))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from lakehouse.generate import generate
    from lakehouse.report import demo_report

    progress = _Progress(args.quiet)
    landing = Path(_settings(args).landing_root)
    progress(f"generating a sample into {landing} ({args.customers} customers, "
             f"{args.months} months, defect rate {args.defect_rate})")
    summary = generate(landing, customers=args.customers, months=args.months, seed=args.seed,
                       defect_rate=args.defect_rate)
    print(summary.describe())
    args.full_refresh = False
    report = _run(args, progress)
    docs = report.docs_path or _existing_docs(_settings(args).lake_root)
    print(demo_report(_settings(args), docs))
    return 0


def _existing_docs(lake_root: str) -> str | None:
    index = Path(lake_root) / "_quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / \
        "index.html"
    return str(index.resolve()) if index.exists() else None


def cmd_history(args: argparse.Namespace) -> int:
    from lakehouse.io.delta import delta_io
    from lakehouse.io.lake import TableId

    settings = _settings(args)
    delta = delta_io(None, settings.lake())
    entries = delta.history(TableId.parse(args.table), args.limit)
    print(f"{'version':>7}  {'timestamp (UTC)':<19}  {'operation':<14} {'step':<8} "
          f"{'run id':<24}  {'rows':<20} build")
    for e in entries:
        build = e.metadata.get("lakehouse.build", "")  # Gold: "full" or "incremental"
        print(f"{e.version:>7}  {e.timestamp:%Y-%m-%d %H:%M:%S}  {e.operation:<14} "
              f"{e.step or '':<8} {e.run_id or '':<24}  {e.row_changes():<20} {build}".rstrip())
    print("rows: + written or inserted, ~ updated, - deleted")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from lakehouse.catalog.store import CatalogError, LocalCatalog, catalog_for

    settings = _settings(args)
    catalog = catalog_for(settings) or LocalCatalog(settings.lake())
    if isinstance(catalog, LocalCatalog):
        definitions = catalog.tables()
    else:
        definitions = []
        for layer in ("bronze", "silver", "gold", "ops"):
            try:
                definitions += catalog.tables(settings.catalog.database(layer))
            except CatalogError:
                continue
    if not definitions:
        print(f"no tables in the {settings.catalog.kind} catalog (run 'lakehouse run' or "
              "'lakehouse register' first)")
        return 0
    if args.columns:
        for d in definitions:
            print(f"{d.qualified_name}  ({d.format}, version {d.version})  {d.location}")
            for column in d.columns:
                comment = f"  -- {column.comment}" if column.comment else ""
                print(f"    {column.name:<28} {column.type}{comment}")
        return 0
    width = max(len(d.qualified_name) for d in definitions)
    print(f"{'table':<{width}}  {'format':<15} {'version':>7} {'columns':>7}  description")
    for d in definitions:
        version = "" if d.version is None else d.version
        print(f"{d.qualified_name:<{width}}  {d.format:<15} {version:>7} "
              f"{len(d.columns):>7}  {d.description}")
    return 0


def _catalog(settings):
    from lakehouse.catalog.store import catalog_for

    catalog = catalog_for(settings)
    if catalog is None:
        raise LakehouseError("no catalog configured (catalog.kind is none); use --catalog "
                             "local or glue")
    return catalog


def cmd_register(args: argparse.Namespace) -> int:
    from lakehouse.catalog.register import register_lake

    settings = _settings(args)
    if args.catalog:
        settings = settings.model_copy(update={"catalog": settings.catalog.model_copy(
            update={"kind": args.catalog})})
    done = register_lake(settings, _catalog(settings), _Progress(args.quiet))
    if not done:
        print(f"no tables in {settings.lake().root} (run 'lakehouse run' first)")
    for item in done:
        print(f"{item.action:<9} {item.definition.qualified_name} "
              f"(version {item.definition.version})")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from lakehouse.catalog.register import publish_snapshot
    from lakehouse.io.lake import TableId

    settings = _settings(args)
    if args.catalog:
        settings = settings.model_copy(update={"catalog": settings.catalog.model_copy(
            update={"kind": args.catalog})})
    if (args.version is None) == (args.as_of is None):
        raise LakehouseError("give --version N or --as-of TIMESTAMP (one of them)")
    definition = publish_snapshot(settings, _catalog(settings), TableId.parse(args.table),
                                  version=args.version, as_of=args.as_of, name=args.name)
    layer = TableId.parse(args.table).layer
    print(f"published {args.table} version {definition.version} as "
          f"{definition.qualified_name} ({len(definition.columns)} columns, manifest "
          f"{definition.location}/manifest)")
    print(f"query it: lakehouse query -e \"SELECT count(*) FROM {layer}.{definition.name}\"")
    return 0


def _register_after(settings, progress: _Progress) -> None:
    """Catalog entries follow a maintenance command's new table versions."""
    from lakehouse.catalog.register import register_lake
    from lakehouse.catalog.store import catalog_for

    catalog = catalog_for(settings)
    if catalog is not None:
        register_lake(settings, catalog, progress)


def cmd_vacuum(args: argparse.Namespace) -> int:
    from lakehouse.pipeline.maintenance import vacuum_tables

    settings = _settings(args)
    progress = _Progress(args.quiet)
    results = vacuum_tables(settings, args.tables, every=args.all, retain_hours=args.retain_hours,
                            dry_run=args.dry_run, force=args.force, progress=progress)
    size = sum(r.bytes for r in results)
    print(f"{'would remove' if args.dry_run else 'removed'} "
          f"{sum(r.data_files for r in results)} data file(s), {size / 1e6:.1f} MB, "
          f"from {len(results)} table(s)")
    if any(r.files for r in results) and not args.dry_run:
        _register_after(settings, progress)
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from lakehouse.pipeline.maintenance import optimize_tables

    settings = _settings(args)
    progress = _Progress(args.quiet)
    results = optimize_tables(settings, args.tables, every=args.all,
                              target_size_mb=args.target_size_mb, progress=progress)
    changed = [r for r in results if r.version is not None]
    print(f"compacted {sum(r.files_removed for r in changed)} file(s) into "
          f"{sum(r.files_added for r in changed)} in {len(changed)} of {len(results)} table(s)")
    if changed:
        _register_after(settings, progress)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from lakehouse.pipeline.maintenance import restore_table

    settings = _settings(args)
    progress = _Progress(args.quiet)
    restored = restore_table(settings, args.table, version=args.version, as_of=args.as_of,
                             progress=progress)
    pair = (f" and {restored.partner[0]}, its SCD2 pair, to version {restored.partner[1]} "
            f"(now version {restored.partner[2]})" if restored.partner else "")
    print(f"restored {restored.table} to version {restored.version} (now version "
          f"{restored.new_version}){pair}; {restored.advice()}")
    _register_after(settings, progress)
    return 0


def cmd_redact(args: argparse.Namespace) -> int:
    from lakehouse.pipeline.maintenance import redact_tables

    settings = _settings(args)
    progress = _Progress(args.quiet)
    results = redact_tables(settings, args.tables, every=args.all, dry_run=args.dry_run,
                            purge_history=args.purge_history, progress=progress)
    held = [r for r in results if r.rows]
    rows = sum(r.rows for r in held)
    if not held:
        print(f"no card number in {len(results)} table(s)")
    elif args.dry_run:
        print(f"{rows} row(s) of {len(held)} of {len(results)} table(s) hold a card number: "
              "run without --dry-run to mask them")
    else:
        print(f"masked the card numbers of {rows} row(s) in {len(held)} of {len(results)} "
              "table(s)" + ("; the earlier versions' files are removed" if args.purge_history
                            else "; earlier versions may still hold them (above: how to remove "
                            "their files)"))
        _register_after(settings, progress)
    return 0


def cmd_crawlers(args: argparse.Namespace) -> int:
    from lakehouse.catalog.tables import crawlers_json

    text = crawlers_json(_settings(args))
    if args.out == "-":
        print(text, end="")
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from lakehouse.aws import aws_client
    from lakehouse.aws.landing import upload_landing

    settings = _settings(args)
    kms_key = args.kms_key or settings.aws.kms_key_id
    done = upload_landing(aws_client(settings, "s3"), args.folder, args.to, kms_key,
                          _Progress(args.quiet))
    sent = [u for u in done if u.action == "uploaded"]
    print(f"{len(sent)} file(s) uploaded to {args.to} ({sum(u.size for u in sent):,} bytes, "
          f"SSE-KMS {kms_key or 'the bucket default key'}), {len(done) - len(sent)} unchanged")
    return 0


def cmd_workflow(args: argparse.Namespace) -> int:
    from lakehouse.aws import aws_client
    from lakehouse.aws.workflow import start_workflow, wait_for, workflow_status
    from lakehouse.pipeline.graph import load_job_graph

    settings = _settings(args)
    name = args.name or load_job_graph(settings.conf_dir).workflow
    glue = aws_client(settings, "glue")
    run_id = args.run_id
    if args.action == "start":
        run_id = start_workflow(glue, name)
        print(f"started workflow {name}: run {run_id}")
        if not args.wait:
            return 0
    if args.wait and run_id:
        run = wait_for(glue, name, run_id, poll_s=args.poll, progress=_Progress(args.quiet))
    else:
        run = workflow_status(glue, name, run_id)
    print(run.describe())
    if run.finished and not run.succeeded:
        raise LakehouseError(f"workflow {name} run {run.run_id} did not succeed")
    return 0


def _as_of(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def _params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise LakehouseError(f"--param expects NAME=VALUE, got {pair!r}")
        params[name.strip()] = value
    return params


def cmd_query(args: argparse.Namespace) -> int:
    from lakehouse.engines import engine_for
    from lakehouse.formatting import aligned, as_csv, as_json

    if (args.file is None) == (args.execute is None):
        raise LakehouseError("give a .sql file or -e \"SQL\" (one of them)")
    if args.file is not None:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise LakehouseError(f"cannot read {args.file}: {exc.strerror}") from None
    else:
        sql = args.execute
    settings = _settings(args)
    headers, rows = engine_for(settings, args.engine).rows(sql, _params(args.param),
                                                           _as_of(args.as_of))
    render = {"table": aligned, "csv": as_csv, "json": as_json}[args.format]
    print(render(rows, headers))
    if args.format == "table":
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def _add_location_flags(parser: argparse.ArgumentParser, landing: bool = True) -> None:
    parser.add_argument("--lake", help="lake root, local folder or s3:// "
                        "(default: $LAKEHOUSE_LAKE or ./lake)")
    if landing:
        parser.add_argument("--landing", help="landing root (default: $LAKEHOUSE_LANDING or "
                            "./landing)")
    parser.add_argument("--conf", help="configuration folder (default: $LAKEHOUSE_CONF or the "
                        "repository's conf/)")
    parser.add_argument("--env", help="environment overlay conf/env/<ENV>.yaml "
                        "(default: $LAKEHOUSE_ENV or local)")


def _add_wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="when another run holds the lake's lock, wait up to this long for "
                        "it (default: $LAKEHOUSE_LOCK_WAIT or 0, fail at once)")


def _add_version_flags(parser: argparse.ArgumentParser) -> None:
    """One version of a table: ``--version N`` or ``--as-of TIMESTAMP``."""
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--as-of", default=None, help="a timestamp (ISO 8601, UTC unless it "
                        "names a zone): the version current at that moment")


def _add_table_selection(parser: argparse.ArgumentParser) -> None:
    """Tables by name, or ``--all``."""
    parser.add_argument("tables", nargs="*", metavar="TABLE", help="e.g. silver.transactions")
    parser.add_argument("--all", action="store_true", help="every table of the lake")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


class _Parser(argparse.ArgumentParser):
    """argparse with the command line's contract: a mistake in the arguments is one line and
    exit code 1 (argparse's own 2 is what a blocked quality gate exits with)."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lakehouse", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and "
                        "tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="write a seeded sample of landing files")
    gen.add_argument("--out", default="landing", help="landing folder to write (default "
                     "./landing)")
    gen.add_argument("--customers", type=int, default=200)
    gen.add_argument("--months", type=int, default=3)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--defect-rate", type=float, default=0.02,
                     help="share of rows given one realistic defect (0 for clean data)")
    gen.add_argument("--start", type=_date, default=date(2024, 1, 1), help="first day (YYYY-MM-DD)")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="promote new landing files: Bronze -> Silver -> Gold")
    _add_location_flags(run)
    run.add_argument("--full-refresh", action="store_true",
                     help="reprocess every landing file and rebuild the tables")
    run.add_argument("--from", dest="from_date", type=_date, default=None, metavar="DAY",
                     help="reprocess the landing files of this day on (YYYY-MM-DD, the day in "
                     "a file's name), read again from Bronze with today's rules")
    run.add_argument("--to", dest="to_date", type=_date, default=None, metavar="DAY",
                     help="... up to this day, inclusive")
    _add_wait_flag(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate a sample, run the workflow, print a report")
    _add_location_flags(demo)
    demo.add_argument("--customers", type=int, default=200)
    demo.add_argument("--months", type=int, default=3)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--defect-rate", type=float, default=0.02)
    demo.set_defaults(func=cmd_demo)

    history = sub.add_parser("history", help="versions of a table, with run ids")
    history.add_argument("table", help="e.g. silver.transactions")
    history.add_argument("--limit", type=_at_least_one, default=None,
                         help="the newest N versions only")
    _add_location_flags(history, landing=False)
    history.set_defaults(func=cmd_history)

    query = sub.add_parser("query", help="run Athena SQL locally (DuckDB over the Delta tables) "
                           "or on Athena")
    query.add_argument("file", nargs="?", help="a .sql file, e.g. sql/top_customers_by_spend.sql")
    query.add_argument("-e", "--execute", help="SQL text instead of a file")
    query.add_argument("--as-of", help="read every table as of a version number or a "
                       "timestamp (ISO 8601)")
    query.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="value for a :NAME parameter (repeatable)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--engine", choices=("local", "athena"), default=None,
                       help="local (DuckDB over the Delta tables, the default) or athena "
                       "(default: $LAKEHOUSE_ENGINE or athena.engine in the configuration)")
    _add_location_flags(query, landing=False)
    query.set_defaults(func=cmd_query)

    tables = sub.add_parser("tables", help="list the catalog's tables")
    tables.add_argument("--columns", action="store_true", help="show every column and type")
    _add_location_flags(tables, landing=False)
    tables.set_defaults(func=cmd_tables)

    register = sub.add_parser("register", help="register every table of the lake in the "
                              "catalog (lakehouse run does this after each run)")
    register.add_argument("--catalog", choices=("local", "glue"), default=None,
                          help="default: catalog.kind in the configuration")
    _add_location_flags(register, landing=False)
    register.set_defaults(func=cmd_register)

    snap = sub.add_parser("snapshot", help="publish one version of a table as its own catalog "
                          "table (for Athena, which cannot time-travel Delta)")
    snap.add_argument("table", help="e.g. gold.customer_summary")
    _add_version_flags(snap)
    snap.add_argument("--name", default=None, help="table name (default <table>_v<version>)")
    snap.add_argument("--catalog", choices=("local", "glue"), default=None)
    _add_location_flags(snap, landing=False)
    snap.set_defaults(func=cmd_snapshot)

    vacuum = sub.add_parser("vacuum", help="remove data files no version within the "
                            "retention needs, and files no commit names (left by killed runs)")
    _add_table_selection(vacuum)
    vacuum.add_argument("--retain-hours", type=int, default=None, help="keep what versions "
                        "younger than this need (default: the table's retention, 168 h)")
    vacuum.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    vacuum.add_argument("--force", action="store_true", help="allow a retention shorter than "
                        "the table's: older versions can no longer be read")
    _add_location_flags(vacuum, landing=False)
    _add_wait_flag(vacuum)
    vacuum.set_defaults(func=cmd_vacuum)

    optimize = sub.add_parser("optimize", help="compact a table's small files (rows unchanged)")
    _add_table_selection(optimize)
    optimize.add_argument("--target-size-mb", type=int, default=None, help="file size to aim "
                          "for (default: the table's delta.targetFileSize, or 100 MB)")
    _add_location_flags(optimize, landing=False)
    _add_wait_flag(optimize)
    optimize.set_defaults(func=cmd_optimize)

    restore = sub.add_parser("restore", help="make an earlier version of a Silver or Gold "
                             "table its current one (a new version; history kept)")
    restore.add_argument("table", help="e.g. silver.transactions")
    _add_version_flags(restore)
    _add_location_flags(restore, landing=False)
    _add_wait_flag(restore)
    restore.set_defaults(func=cmd_restore)

    redact = sub.add_parser("redact", help="mask card numbers found outside Bronze (rows an "
                            "earlier release wrote), optionally removing the earlier versions' "
                            "files")
    _add_table_selection(redact)
    redact.add_argument("--dry-run", action="store_true", help="scan and report, rewrite nothing")
    redact.add_argument("--purge-history", action="store_true", help="then remove the files "
                        "of the versions before (they can no longer be read; published "
                        "snapshots keep theirs)")
    _add_location_flags(redact, landing=False)
    _add_wait_flag(redact)
    redact.set_defaults(func=cmd_redact)

    upload = sub.add_parser("upload", help="upload landing files to S3 (SSE-KMS), each "
                            "file once")
    upload.add_argument("folder", nargs="?", default="landing", help="local landing folder "
                        "(default ./landing)")
    upload.add_argument("--to", required=True, help="s3://bucket[/prefix], e.g. the Terraform "
                        "output landing_root")
    upload.add_argument("--kms-key", default=None, help="KMS key id, ARN or alias (default: "
                        "aws.kms_key_id)")
    upload.add_argument("--conf", help="configuration folder")
    upload.add_argument("--env", help="environment overlay (e.g. glue)")
    upload.set_defaults(func=cmd_upload)

    workflow = sub.add_parser("workflow", help="start the Glue workflow or show a run's status")
    workflow.add_argument("action", choices=("start", "status"))
    workflow.add_argument("run_id", nargs="?", default=None, help="status of this run "
                          "(default: the latest)")
    workflow.add_argument("--name", default=None, help="workflow name (default: the job "
                          "graph's, lakehouse-nightly)")
    workflow.add_argument("--wait", action="store_true", help="poll until the run finishes; "
                          "exit 1 unless every job succeeded")
    workflow.add_argument("--poll", type=float, default=30.0, help="seconds between polls")
    workflow.add_argument("--conf", help="configuration folder")
    workflow.add_argument("--env", help="environment overlay (e.g. glue)")
    workflow.set_defaults(func=cmd_workflow)

    crawlers = sub.add_parser("crawlers", help="write the Glue crawler definitions "
                              "(crawlers/crawlers.json) from the table definitions")
    crawlers.add_argument("--out", default="crawlers/crawlers.json", help="file, or - for stdout")
    crawlers.add_argument("--conf", help="configuration folder")
    crawlers.set_defaults(func=cmd_crawlers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except LakehouseError as exc:
        for line in getattr(exc, "details", []):
            print(f"  failed: {redact_pans(line)}", file=sys.stderr)
        print(f"lakehouse: {redact_pans(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lakehouse: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line, the traceback on request
        if args.verbose:
            log.exception("unexpected error")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"lakehouse: unexpected error: {exc.__class__.__name__}: "
              f"{redact_pans(first[:300])} "
              "(run with --verbose for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
