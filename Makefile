# Two commands: `make run` (the pipeline on the embedded Temporal server) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PEERS := tests/peers/node_modules/.installed

.PHONY: run test venv peers clean histories bench

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Stoplight Prism serves the vendors' own OpenAPI specs on loopback for the channel tests.
peers: $(PEERS)

$(PEERS): tests/peers/package.json tests/peers/package-lock.json
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
	touch $@

run: $(INSTALLED)
	$(PY) -m ops.run_local

test: $(INSTALLED) $(PEERS)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) tests/peers/node_modules

# Record the scenario tests' histories for the replay test: make histories VERSION=v2
VERSION ?= v1
histories: $(INSTALLED)
	COMPLAINTS_RECORD_HISTORIES=$(VERSION) $(PY) -m pytest tests/workflows/test_complaint_case.py -q
