"""Silver gates, generated from the same source YAML and entity definitions as the row rules.

They validate a batch before it is merged: the share of quarantined rows per source, and - on
the rows about to be published - key uniqueness, required fields, ranges, accepted and reference
values, and the card-number scan. Rows breaking a rule are quarantined before this point, so a
failure here means a batch that is too dirty to publish, or a defect in the rules themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lakehouse.config import QualitySettings, SourceConfig
from lakehouse.pii.columns import CARD_NUMBER_FOUND
from lakehouse.quality.keys import keys_unique
from lakehouse.silver.batch import CLEAN, DUPLICATE, OUTCOME
from lakehouse.silver.entity import Entity
from lakehouse.silver.fields import output_columns


def _where(**equals: str) -> dict[str, Any]:
    """A row condition: every named column equals its value (none named: every row)."""
    from great_expectations.expectations.row_conditions import Column

    if not equals:
        return {}
    conditions = [Column(name) == value for name, value in equals.items()]
    condition: Any = conditions[0]
    for other in conditions[1:]:
        condition = condition & other
    return {"row_condition": condition}


def silver_expectations(entity: Entity, sources: Sequence[SourceConfig],
                        quality: QualitySettings,
                        references: Mapping[str, frozenset[str]], published: int) -> list[Any]:
    """Expectations over an entity's classified batch (all rows, with ``outcome``), with
    ``lakehouse.quality.keys.with_gate_key`` of the entity's key. ``published``: how many of
    its rows are clean (about to be published)."""
    import great_expectations.expectations as gxe

    checks: list[Any] = []
    # Each distinct row condition is a domain Great Expectations computes apart (four Spark
    # jobs each, however many columns share it). A batch of one source needs no condition on
    # the source: every row has it.
    by_source = len(sources) > 1
    for source in sources:
        limit = quality.quarantine_limit(source.name)
        of_source = {"source": source.name} if by_source else {}
        checks.append(gxe.ExpectColumnValuesToBeInSet(
            column=OUTCOME, value_set=[CLEAN, DUPLICATE], mostly=round(1 - limit, 6),
            **_where(**of_source),
            description=f"at most {limit:.1%} of the {source.name} rows are quarantined"))
        clean = _where(**{OUTCOME: CLEAN, **of_source})
        for name, spec in source.fields.items():
            column = output_columns(name, source.field_pii(name))[0]
            if spec.required or name in source.natural_key:
                checks.append(gxe.ExpectColumnValuesToNotBeNull(column=column, **clean))
            if column != name:
                continue  # tokens, masks and birth years: nothing more to check
            if spec.min is not None or spec.max is not None:
                checks.append(gxe.ExpectColumnValuesToBeBetween(
                    column=column, min_value=spec.min, max_value=spec.max, **clean))
            accepted = set(spec.accepted) | (set(references[spec.reference])
                                             if spec.reference else set())
            if accepted:
                checks.append(gxe.ExpectColumnValuesToBeInSet(
                    column=column, value_set=sorted(accepted), **clean))
    checks.append(keys_unique(entity.key, published, **_where(**{OUTCOME: CLEAN})))
    checks.append(gxe.ExpectColumnValuesToBeInSet(
        column=CARD_NUMBER_FOUND, value_set=[False],
        description="no card number in any column of Silver or quarantine rows"))
    return checks
