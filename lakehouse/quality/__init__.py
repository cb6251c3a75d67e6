"""Data-quality gates (Great Expectations) in front of every Silver and Gold commit."""
