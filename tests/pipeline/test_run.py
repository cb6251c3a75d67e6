"""RunReport's summary: the text a run prints."""

from __future__ import annotations

from lakehouse.pipeline.run import RunReport, StepTimer
from lakehouse.quality.gates import GateResult


def test_summary_figures_line_up_whatever_the_names_lengths():
    report = RunReport("r1")
    for name in ("bronze.loans", "gate.gold.customer_monthly_spend", "gold.fraud_daily"):
        report.steps.append(StepTimer("r1", name, name).finish(rows_in=5, rows_written=5))
    report.gates = [GateResult(t, (), 0.5, "pandas", 10)
                    for t in ("silver.loans", "gold.customer_monthly_spend")]
    lines = report.summary().splitlines()
    steps = [line for line in lines if " written " in line]
    gates = [line for line in lines if line.startswith("  gate ")]
    assert len(steps) == 3 and len(gates) == 2
    # every figure starts in the same column, the longest name included
    assert len({line.index(" in ") for line in steps}) == 1
    assert len({line.index(" expectations") for line in gates}) == 1
