"""Bronze: rows as received (text), plus lineage."""
