# The two commands of the README: `make run` (the whole stack) and `make test`.
# PYTHON and VENV may be given: `PYTHON=python3.12 VENV=/tmp/oms-venv make run`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: what running needs (`make run`), and the development tools on top of it
# (`make test`, `make lint`: pytest, ruff, mypy, buf, grpcio-tools...).
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
FIX_CLIENT := tests/fix_client/node_modules/.package-lock.json
# Debian's Chromium, which the operator page's browser test drives (Playwright's own
# browser download cannot run here).
CHROMIUM := /usr/lib/chromium/chromium
# QuickFIX's C++ executor example (source in libquickfix-doc, library in libquickfix-dev),
# the independent FIX venue the FIX venue connector's tests build and trade with.
QUICKFIX_EXECUTOR := /usr/share/doc/libquickfix-doc/examples/executor/C++/Application.h

.PHONY: run test lint protos protos-baseline check-protos bench soak clean

# The published API the protos are checked against (buf breaking): refresh it only for a
# change that is meant to break clients, and say so in the commit.
API_BASELINE := protos/api-baseline.binpb

run: $(RUN_STAMP)
	$(BIN)/oms up

test: $(DEV_STAMP) $(FIX_CLIENT) $(CHROMIUM) $(QUICKFIX_EXECUTOR)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/buf breaking --against $(API_BASELINE)
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/mypy
	$(BIN)/lint-imports

protos: $(DEV_STAMP)
	$(BIN)/python scripts/gen_protos.py

protos-baseline: $(DEV_STAMP)
	$(BIN)/buf build -o $(API_BASELINE)

# Long reliability runs (not in CI): 50 kills during 2,000-order bursts, then a 30-minute soak.
soak: $(DEV_STAMP)
	CRASH_KILLS=50 CRASH_BURST=2000 $(BIN)/python -m pytest -m 'long or not long' tests/reliability/test_crash_burst.py
	$(BIN)/python -m pytest -m long tests/reliability/test_soak.py

bench: $(RUN_STAMP)
	$(BIN)/oms-bench all

# Chromium for the browser test, installed only when missing (apt-get: as root, as in CI).
# Where that cannot be done the browser test skips, saying so; CI makes it fail instead
# (OMS_REQUIRE_BROWSER=1).
$(CHROMIUM):
	@if command -v apt-get >/dev/null; then \
	  echo "make: installing Chromium for the browser test (apt-get install chromium)"; \
	  { apt-get update && apt-get install -y --no-install-recommends chromium; } \
	    || echo "make: could not install Chromium: the browser test will skip"; \
	else echo "make: no apt-get: the browser test will skip (it needs $(CHROMIUM))"; fi

# QuickFIX's executor for the FIX venue tests, installed only when missing (as Chromium);
# without it those tests skip, saying so.
$(QUICKFIX_EXECUTOR):
	@if command -v apt-get >/dev/null; then \
	  echo "make: installing QuickFIX's executor example (apt-get install libquickfix-dev libquickfix-doc)"; \
	  { apt-get update && apt-get install -y --no-install-recommends g++ libquickfix-dev libquickfix-doc; } \
	    || echo "make: could not install QuickFIX: the FIX venue tests will skip"; \
	else echo "make: no apt-get: the FIX venue tests will skip (they need libquickfix-dev)"; fi

# The FIX gateway's tests drive jspurefix (a FIX engine nobody here wrote, on Node.js),
# pinned by tests/fix_client/package-lock.json; npm ci installs exactly that.
$(FIX_CLIENT): tests/fix_client/package.json tests/fix_client/package-lock.json
	npm ci --no-audit --no-fund --prefix tests/fix_client

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	@test -d $(VENV) || { echo "make: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: updating pip in $(VENV)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "make: installing the OMS with what it needs to run (pip install -e .)"
	@$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	@echo "make: installing the development tools (pip install -e '.[dev]')"
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

clean:
	rm -rf $(VENV) .oms build *.egg-info
