# dualwheel: `make demo` and `make test` are all a new user needs (both run `setup` first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# uv itself is pinned in the lock (dev group), so `uv sync` keeps the copy it runs from.
STAMP := $(VENV)/.dualwheel-synced
LANDING ?= data/landing
WAREHOUSE ?= warehouse/dualwheel.duckdb
# Dagster's home (run history) lives beside the warehouse: warehouse/dualwheel.dagster for the
# default one (orchestration.settings.dagster_home_for); set DAGSTER_HOME to put it elsewhere.

.PHONY: setup demo test test-fast ui bench clean
# Java 17 is needed only by the Spark engine (`--engine spark`): a DuckDB-only user must not be
# blocked, so a missing `java` is one line of advice, not a failed setup.
setup: $(STAMP)
	@command -v java >/dev/null 2>&1 || echo "note: java not found; the Spark engine needs Java 17: sudo apt-get install -y openjdk-17-jre-headless (DuckDB engine unaffected)"

# --compile-bytecode: uv installs sources only, and where PYTHONDONTWRITEBYTECODE is set (CI
# images, containers) Python then compiles every imported module again in every process:
# ~3,600 modules per `dualwheel build`, e.g. `import great_expectations` 2.97 -> 1.05 s of CPU and
# `dbt --version` 3.95 -> 2.33 s (measured). It costs ~40 s once, at install.
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/uv || ($(PY) -m venv $(VENV) && $(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION))
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --quiet --compile-bytecode --python $(BIN)/python
	@touch $@
	@echo "dualwheel installed in $(VENV) (CLI: $(BIN)/dualwheel)"

demo: setup
	$(BIN)/dualwheel demo --landing $(LANDING) --warehouse $(WAREHOUSE)

test: setup
	$(BIN)/python -m pytest -q --durations=15

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

ui: setup
	$(BIN)/dualwheel ui --landing $(LANDING) --warehouse $(WAREHOUSE) --host 127.0.0.1 --port 3000

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .dagster_home warehouse/*.dagster warehouse/*.dbt warehouse/*.lake dbt_project/target dbt_project/logs data/landing warehouse/*.duckdb*
