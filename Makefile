# The two commands of the README: `make run` (the whole stack) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint protos check-protos bench soak clean

run: $(STAMP)
	$(BIN)/oms up

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/python scripts/gen_protos.py --check

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

# Long reliability runs (not in CI): 50 kills during 2,000-order bursts, then a 30-minute soak.
soak: $(STAMP)
	CRASH_KILLS=50 CRASH_BURST=2000 $(BIN)/python -m pytest -m 'long or not long' tests/reliability/test_crash_burst.py
	$(BIN)/python -m pytest -m long tests/reliability/test_soak.py

bench: $(STAMP)
	$(BIN)/oms-bench all

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .oms build *.egg-info
