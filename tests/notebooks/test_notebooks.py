"""The notebooks in notebooks/ are committed clean, read the lake the environment names, and - run
top to bottom on a generated lake - compute numbers that agree with Gold.

Each notebook's last cell prints its key results as one line ``RESULTS {json}``; the tests read
that line from the executed notebook and check it against Gold read independently here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

import lakehouse

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CUSTOMER_360 = NOTEBOOKS / "customer_360.ipynb"
LOAN_MODEL = NOTEBOOKS / "loan_default_model.ipynb"
CELL_TIMEOUT_S = 240
# outcome and monitoring columns of gold.loan_default_features, and the protected age band
NEVER_FEATURES = {"defaulted", "first_status", "first_days_past_due", "latest_status",
                  "latest_outstanding", "max_days_past_due", "snapshots", "last_seen",
                  "age_band", "loan_id", "customer_id"}


class VenvKernelManager(AsyncKernelManager):
    """Starts ``python3`` as this interpreter (the project's venv), whatever kernelspecs the
    machine's user has installed elsewhere."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])  # only ipykernel's native spec: sys.executable


def kernel_env(**variables: str) -> dict[str, str]:
    """This process's environment without any LAKEHOUSE_* setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    return env | variables


def execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str],
            allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel started in ``cwd`` (as Jupyter does: the notebook's
    folder) and report which interpreter ran them."""
    nb.cells.append(nbformat.v4.new_code_cell(
        "import sys as _sys\nprint('EXECUTABLE ' + _sys.executable)"))
    client = NotebookClient(nb, kernel_name="python3", kernel_manager_class=VenvKernelManager,
                            timeout=CELL_TIMEOUT_S, startup_timeout=120, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return nb


def printed(nb: nbformat.NotebookNode, prefix: str) -> str:
    """The text after ``prefix`` on the last printed line that starts with it."""
    found = [line[len(prefix):] for cell in nb.cells if cell.cell_type == "code"
             for out in cell.get("outputs", []) if out.get("output_type") == "stream"
             for line in out.get("text", "").splitlines() if line.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in the notebook's output"
    return found[-1]


def errors(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def run_notebook(path: Path, lake: Path) -> dict[str, Any]:
    nb = execute(nbformat.read(path, as_version=4), NOTEBOOKS,
                 kernel_env(LAKEHOUSE_LAKE=str(lake)))
    assert Path(printed(nb, "EXECUTABLE ")) == Path(sys.executable)
    return json.loads(printed(nb, "RESULTS "))


def stored_state(nb: nbformat.NotebookNode) -> list[str]:
    """What must not be committed: outputs and execution counts of code cells."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution count {cell.execution_count}")
    return problems


def gold(name: str, lake: Path) -> pd.DataFrame:
    return lakehouse.read_table(name, lake=str(lake))


def code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


# --- committed state ------------------------------------------------------------------------


def committed_notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_both_notebooks_are_there():
    assert {CUSTOMER_360, LOAN_MODEL} <= set(committed_notebooks())


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert stored_state(nb) == [], (
        f"{path.name} is committed with outputs: clear them (Jupyter: Edit > Clear Outputs of "
        "All Cells, or `jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`)")


def test_the_output_check_catches_outputs_and_counts():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                         nbformat.v4.new_code_cell("1 + 1")])
    assert stored_state(nb) == []
    nb.cells[1].execution_count = 3
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                  execution_count=3)]
    assert stored_state(nb) == ["cell 1 has 1 output(s)", "cell 1 has execution count 3"]


@pytest.mark.parametrize("path", [CUSTOMER_360, LOAN_MODEL], ids=lambda p: p.name)
def test_notebook_reads_gold_through_the_api_and_the_environment(path):
    source = "\n".join(code_cells(path))
    assert "lakehouse.read_table(" in source
    assert "lake=" not in source, "the lake comes from LAKEHOUSE_LAKE, never from the notebook"
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    for words in ("LAKEHOUSE_LAKE", "../lake", "make demo", "LAKEHOUSE_ENGINE=athena"):
        assert words in first.source


# --- the set-up cell finds the lake ---------------------------------------------------------


def fake_checkout(root: Path, with_lake: bool) -> Path:
    """A folder shaped like the repository (pyproject.toml, lakehouse/, notebooks/)."""
    (root / "lakehouse").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'lakehouse'\n")
    if with_lake:
        (root / "lake").mkdir()
    return root


def run_setup(path: Path, cwd: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    setup = code_cells(path)[0]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell("print('LAKE ' + os.environ.get('LAKEHOUSE_LAKE', '-'))")])
    return execute(nb, cwd, env, allow_errors=True)


@pytest.mark.parametrize("path", [CUSTOMER_360, LOAN_MODEL], ids=lambda p: p.name)
def test_without_lakehouse_lake_the_notebook_reads_the_repository_lake(path, tmp_path):
    root = fake_checkout(tmp_path / "checkout", with_lake=True)
    nb = run_setup(path, root / "notebooks", kernel_env())
    assert errors(nb) == []
    assert Path(printed(nb, "LAKE ")).resolve() == (root / "lake").resolve()
    assert Path(printed(nb, "EXECUTABLE ")) == Path(sys.executable)


def test_a_missing_lake_says_to_run_make_demo(tmp_path):
    root = fake_checkout(tmp_path / "checkout", with_lake=False)
    nb = run_setup(CUSTOMER_360, root / "notebooks", kernel_env())
    [error] = errors(nb)
    assert error["ename"] == "FileNotFoundError"
    assert "make demo" in error["evalue"] and str(root / "lake") in error["evalue"]


def test_an_explicit_lake_wins_and_athena_needs_no_lake(tmp_path):
    root = fake_checkout(tmp_path / "checkout", with_lake=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nb = run_setup(CUSTOMER_360, root / "notebooks", kernel_env(LAKEHOUSE_LAKE=str(elsewhere)))
    assert errors(nb) == [] and Path(printed(nb, "LAKE ")).resolve() == elsewhere.resolve()
    nb = run_setup(CUSTOMER_360, root / "notebooks", kernel_env(LAKEHOUSE_ENGINE="athena"))
    assert errors(nb) == [] and printed(nb, "LAKE ") == "-"


# --- executed on a generated lake -----------------------------------------------------------


@pytest.fixture(scope="module")
def customer_360(notebook_lake) -> dict[str, Any]:
    return run_notebook(CUSTOMER_360, notebook_lake)


@pytest.fixture(scope="module")
def loan_model(notebook_lake) -> dict[str, Any]:
    return run_notebook(LOAN_MODEL, notebook_lake)


def assert_labelled_charts(figures: list[dict[str, str]], at_least: int) -> None:
    assert len(figures) >= at_least
    for chart in figures:
        assert chart["title"] and chart["xlabel"] and chart["ylabel"], chart


@pytest.mark.integration
def test_customer_360_segments_add_up_to_the_customers(customer_360, notebook_lake):
    summary = gold("gold.customer_summary", notebook_lake)
    assert customer_360["customers"] == len(summary)
    assert sum(customer_360["segment_counts"].values()) == customer_360["segment_total"]
    assert customer_360["segment_total"] == len(summary)
    assert customer_360["segment_counts"] == summary["rfm_segment"].value_counts().to_dict()
    assert customer_360["segment_spend_share_total"] == pytest.approx(1.0)


@pytest.mark.integration
def test_customer_360_spend_and_points_are_gold_totals(customer_360, notebook_lake):
    summary = gold("gold.customer_summary", notebook_lake)
    monthly = gold("gold.customer_monthly_spend", notebook_lake)
    assert customer_360["total_spend"] == pytest.approx(float(summary["total_spend"].sum()),
                                                        abs=0.005)
    assert customer_360["monthly_spend_total"] == pytest.approx(float(monthly["spend"].sum()),
                                                                abs=0.005)
    assert customer_360["active_customers"] == int((summary["txn_count"] > 0).sum())
    assert customer_360["reward_points_total"] == int(summary["reward_points"].sum())


@pytest.mark.integration
def test_customer_360_fraud_rates_are_rates_per_transaction(customer_360, notebook_lake):
    daily = gold("gold.fraud_daily", notebook_lake)
    totals = daily.groupby("category")[["txn_count", "fraud_count"]].sum()
    rates = customer_360["fraud_rates"]
    assert set(rates) == set(totals.index)
    assert all(0 <= rate <= 1 for rate in rates.values())
    assert any(rate > 0 for rate in rates.values())
    for category, row in totals.iterrows():
        assert rates[category] == pytest.approx(row["fraud_count"] / row["txn_count"])
    assert 0 <= customer_360["overall_fraud_rate"] <= 1
    assert customer_360["fraud_transactions"] == int(daily["fraud_count"].sum())


@pytest.mark.integration
def test_customer_360_charts_have_titles_and_axis_labels(customer_360):
    assert_labelled_charts(customer_360["figures"], at_least=5)


@pytest.mark.integration
def test_loan_model_tests_on_loans_strictly_newer_than_training(loan_model, notebook_lake):
    features = gold("gold.loan_default_features", notebook_lake)
    assert loan_model["loans"] == len(features)
    assert loan_model["train_loans"] + loan_model["test_loans"] + loan_model["excluded"] == len(
        features)
    assert loan_model["test_first_origination"] > loan_model["train_last_origination"]
    # the split, checked against the table itself
    originated = pd.to_datetime(features["origination_date"])
    cutoff = pd.Timestamp(loan_model["cutoff"])
    train, test = originated[originated < cutoff], originated[originated >= cutoff]
    assert (len(train), len(test)) == (loan_model["train_loans"], loan_model["test_loans"])
    assert train.max() == pd.Timestamp(loan_model["train_last_origination"])
    assert test.min() == pd.Timestamp(loan_model["test_first_origination"])
    assert 0 < loan_model["test_defaults"] < loan_model["test_loans"]


@pytest.mark.integration
def test_loan_model_ranks_defaults_better_than_chance(loan_model):
    auc = loan_model["auc"]
    assert isinstance(auc, float) and 0.5 < auc <= 1, auc
    low, high = loan_model["auc_interval"]
    assert low <= auc <= high


@pytest.mark.integration
def test_loan_model_coefficient_table_has_one_row_per_model_input(loan_model):
    rows = loan_model["coefficient_features"]
    assert len(rows) == len(set(rows)) == loan_model["model_coefficients"]
    for feature in loan_model["features"]:
        assert any(row == feature or row.endswith(f"_{feature}") or row.startswith(f"{feature}_")
                   for row in rows), f"{feature} has no coefficient"
    assert loan_model["odds_ratios_consistent"]
    assert not NEVER_FEATURES & set(loan_model["features"]), "outcome or protected column used"


@pytest.mark.integration
def test_loan_model_charts_have_titles_and_axis_labels(loan_model):
    assert_labelled_charts(loan_model["figures"], at_least=4)
