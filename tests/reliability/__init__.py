"""Reliability and security battery (issue #7): bad inputs, crashes, concurrent runs, card data."""
