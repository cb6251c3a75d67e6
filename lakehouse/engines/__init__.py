"""SQL engines for analysts: Athena SQL run locally (DuckDB over Delta snapshots)."""
