"""SQL engines for analysts: Athena SQL run locally (DuckDB over Delta snapshots, no JVM) or on
Amazon Athena (PyAthena). Both take the same ``sql/`` files, parameters and time travel."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.engines.athena import AthenaEngine
    from lakehouse.engines.local import LocalEngine


def engine_for(settings: Settings, name: str | None = None) -> LocalEngine | AthenaEngine:
    """The engine the settings choose (``athena.engine``), or ``name`` (local or athena)."""
    chosen = name or settings.athena.engine
    if chosen == "athena":
        from lakehouse.engines.athena import AthenaEngine

        return AthenaEngine(settings)
    if chosen != "local":
        from lakehouse.errors import LakehouseError

        raise LakehouseError(f"unknown engine {chosen!r} (local or athena)")
    from lakehouse.engines.local import LocalEngine

    return LocalEngine(settings.lake(), settings.catalog.database_prefix)
