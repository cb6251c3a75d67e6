"""The one place that reads and writes tables and landing files."""
