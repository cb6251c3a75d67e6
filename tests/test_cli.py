"""The command line as a user types it: exit codes, one-line errors, progress, reports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakehouse.cli import main
from lakehouse.config import DEFAULT_CONF_DIR
from lakehouse.pii.card import luhn_check_digit


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, text: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("lakehouse:")]
    assert len(lines) == 1 and text in lines[0], err
    assert "Traceback" not in err


def test_missing_landing_folder_is_one_line_exit_1(capsys, tmp_path):
    code, _, err = run(capsys, "run", "--landing", str(tmp_path / "nope"), "--lake",
                       str(tmp_path / "lake"))
    assert code == 1
    assert_one_line_error(err, "landing folder not found")


def test_bad_yaml_is_one_line_exit_1(capsys, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    (conf / "sources" / "loans.yaml").write_text("name: [broken\n")
    code, _, err = run(capsys, "run", "--conf", str(conf), "--landing", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "invalid YAML")


def test_generate_rejects_bad_arguments(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "--out", str(tmp_path), "--customers", "0")
    assert code == 1
    assert_one_line_error(err, "customers")


def test_unknown_table_is_one_line_exit_1(capsys, tmp_path):
    code, _, err = run(capsys, "history", "silver.nope", "--lake", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "silver.nope does not exist")
    code, _, err = run(capsys, "history", "nonsense", "--lake", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "not a table name")


@pytest.mark.integration
def test_demo_then_run_then_history(capsys, tmp_path, spark):
    lake, landing = str(tmp_path / "lake"), str(tmp_path / "landing")
    code, out, err = run(capsys, "demo", "--customers", "25", "--months", "1", "--lake", lake,
                         "--landing", landing)
    assert code == 0, err
    assert "silver.transactions" in out and "Why rows were quarantined" in out
    assert "bronze.transactions: loading" in err, "long steps show progress"
    code, out, _ = run(capsys, "run", "--lake", lake, "--landing", landing)
    assert code == 0 and "nothing new" in out
    code, out, _ = run(capsys, "history", "silver.transactions", "--lake", lake)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[0] == "0" and "silver" in lines[1]
    written = DeltaTable(f"{lake}/silver/transactions").to_pyarrow_table().num_rows
    assert f" +{written:,} " in f"{lines[1]} ", "the first load's rows are in its history"
    assert lines[-1].startswith("rows: + written")
    code, out, _ = run(capsys, "history", "gold.customer_summary", "--lake", lake)
    assert code == 0 and out.splitlines()[1].split()[-1] == "full", out
    code, out, _ = run(capsys, "tables", "--lake", lake)
    assert code == 0 and "silver.customers_history" in out and "bronze.loans" in out


@pytest.mark.integration
def test_card_number_scan_blocks_publishing_with_exit_2(capsys, tmp_path, spark):
    """A card number typed into a free-text field must not reach Silver: the run is blocked."""
    landing = tmp_path / "landing"
    code, _, _ = run(capsys, "generate", "--out", str(landing), "--customers", "10",
                     "--months", "1", "--defect-rate", "0")
    assert code == 0
    body = "601100099990001"
    planted = body + luhn_check_digit(body)
    victim = sorted((landing / "transactions").rglob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    lines[1] = lines[1].replace(",fraud_", f",card {planted} fraud_", 1)
    assert planted in lines[1]
    victim.write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    code, _, err = run(capsys, "run", "--lake", str(lake), "--landing", str(landing))
    assert code == 2, err
    assert_one_line_error(err, "quality gate blocked publishing silver.transactions")
    # the expectation's meaning first, then its name and what it found
    assert ("failed: silver.transactions: not met: no card number in any column of Silver or "
            "quarantine rows (expect_column_values_to_be_in_set(card_number_found): 1 of ") in err
    assert planted not in err
    for table in ("transactions", "customers", "loans"):
        assert not (lake / "silver" / table).exists(), "no Silver table was published"
    assert (lake / "silver" / "transactions_quarantine" / "_delta_log").is_dir(), "evidence kept"
    assert (lake / "ops" / "dq_results" / "_delta_log").is_dir()
    assert planted not in err


def test_pan_in_an_unexpected_error_message_is_masked(capsys, monkeypatch):
    body = "411111111111111"
    pan = body + luhn_check_digit(body)

    def explode(_args):
        raise RuntimeError(f"bad row: {pan}")

    import lakehouse.cli as cli

    monkeypatch.setattr(cli, "cmd_tables", explode)
    code, _, err = run(capsys, "tables")
    assert code == 1
    assert pan not in err and pan[-4:] in err


@pytest.mark.parametrize(("argv", "text"), [
    (["run", "--from", "2024-13-01"], "lakehouse run: argument --from: not a date"),
    (["nosuchcommand"], "lakehouse: argument COMMAND: invalid choice: 'nosuchcommand'"),
    (["history", "silver.transactions", "--limit", "0"], "must be 1 or more, not 0"),
])
def test_a_mistake_in_the_arguments_is_one_line_and_exit_1(capsys, argv, text):
    """Exit code 2 means a quality gate blocked publishing: argparse's own 2 for a usage
    mistake would read as one to a scheduler."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 1
    assert err.count("\n") == 1 and text in err and "--help" in err, err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    out = capsys.readouterr().out
    assert caught.value.code == 0
    for command in ("generate", "run", "demo", "history", "tables"):
        assert command in out


def test_console_script_is_installed():
    bin_dir = Path(__import__("sys").executable).parent
    assert (bin_dir / "lakehouse").exists()


def test_aws_commands_without_a_region_say_how_to_set_one(capsys, monkeypatch, tmp_path):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "LAKEHOUSE_AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    code, _, err = run(capsys, "workflow", "status")
    assert code == 1
    assert_one_line_error(err, "AWS glue: no region is set (aws.region in conf/env/<env>.yaml, "
                               "LAKEHOUSE_AWS_REGION or AWS_DEFAULT_REGION)")


def test_crawlers_writes_into_a_folder_it_creates(capsys, tmp_path):
    out = tmp_path / "new" / "crawlers.json"
    code, printed, err = run(capsys, "crawlers", "--out", str(out))
    assert code == 0, err
    assert printed.strip() == f"wrote {out}" and '"crawlers"' in out.read_text()
