"""Benchmarks for the lakehouse pipeline (``make bench``; never part of ``make test``).

``python -m benchmarks.run --help`` describes the options; ``benchmarks/README.md`` what is
measured, how, and against which targets (issue #7).
"""
