# interphase — set-up, demo, tests and benchmarks.
# `make demo` and `make test` create .venv when it is missing. torch==2.13.0 goes in first
# (its CPU wheel is on local disk; any other torch spec would pull a multi-GB CUDA build).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYBAMM_DISABLE_TELEMETRY := true

.PHONY: demo test test-slow bench install lint clean

$(BIN)/python:
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" || { echo "interphase needs Python 3.11 (found $(PYTHON))"; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/interphase run --report reports/sei-demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q -n auto --maxprocesses 4 --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q || { code=$$?; [ $$code -eq 5 ] && echo "no slow tests yet"; [ $$code -eq 5 ]; }

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:  # keeps the committed results (the discovery ledger, queue, real-clock and process figures) and the ledger's stores
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
	find benchmarks/results -type f ! -name 'discovery-*.json' ! -name 'discovery-*.db*' ! -name 'queue_throughput.json' \
		! -name 'real_clock-*.json' ! -name 'campaign_processes.json' -delete 2>/dev/null || true
