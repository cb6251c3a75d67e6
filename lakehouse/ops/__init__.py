"""Operational tables: the ingested-file manifest and the run log."""
