# Two commands: `make run` (the pipeline on the embedded Temporal server) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PEERS := tests/peers/node_modules/.installed

.PHONY: run test test-quick check venv peers system-tools clean histories bench mutation

venv: $(INSTALLED)

# pip -qq: errors only. A machine's own pip configuration (an extra index folder that is not
# there) otherwise prints a wall of "Location ... is ignored" warnings that are not this project's;
# and setuptools warns about every editable install ("Please be careful with folders ..."): the
# scripts run from this folder by design, so that note is noise on a first run.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PY) -m pip install -qq -e '.[dev]'
	touch $@

# Stoplight Prism serves the vendors' own OpenAPI specs on loopback for the channel tests.
peers: $(PEERS)

$(PEERS): tests/peers/package.json tests/peers/package-lock.json
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium (browser test of the Web UI), docker-compose (validates the compose file) and
# caddy (parses the UI proxy's Caddyfile), and PostgreSQL's server (the store tests and the
# several-workers fault test start a throwaway cluster of their own, tests/postgres.py). Installed
# only when missing; --no-install-recommends keeps the Docker engine out, and Debian's default
# "main" cluster is not created: nothing runs on 5432.
SYSTEM_TOOLS := chromium docker-compose caddy
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else \
	    echo "warning: cannot install$$missing (not root, no sudo); their tests will skip"; exit 0; fi; \
	  echo "installing$$missing from Debian ..."; \
	  case "$$missing" in *postgresql*) \
	    $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	    echo "create_main_cluster = false" | $$SUDO tee /etc/postgresql-common/createcluster.d/no-main-cluster.conf >/dev/null;; \
	  esac; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: $(INSTALLED)
	$(PY) -m ops.run_local

# Format, lint (ruff) and type check (mypy, over the files [tool.mypy] lists), all configured in
# pyproject.toml and silent when clean: `make test` runs it first, so CI does too.
check: $(INSTALLED)
	$(PY) -m ruff format --check --quiet .
	$(PY) -m ruff check --quiet .
	$(PY) -m mypy --no-error-summary

test: check $(INSTALLED) $(PEERS) system-tools
	$(PY) -m pytest

# The edit-run loop: unit and time-skipping tests only (no dev server, browser, vendor peers or faults).
test-quick: $(INSTALLED)
	$(PY) -m pytest -q tests/domain tests/workflows tests/channels/test_rendering.py tests/fuzz/test_templates.py tests/test_settings.py

clean:
	rm -rf $(VENV) tests/peers/node_modules mutants

# Record the scenario tests' histories for the replay test: make histories VERSION=v2
VERSION ?= v1
histories: $(INSTALLED)
	COMPLAINTS_RECORD_HISTORIES=$(VERSION) $(PY) -m pytest tests/workflows/test_complaint_case.py tests/workflows/test_truthful_case.py tests/workflows/test_customer_loop.py tests/workflows/test_shared_wakes.py tests/workflows/test_staff_queue.py tests/workflows/test_reply_notice.py -q

# The benchmark suite against a same-shape baseline (several minutes); see docs/performance.md.
bench: $(INSTALLED)
	$(PY) -m bench

# Mutation testing of domain/ against its unit tests (tests/domain), with the score per module; about
# 8 minutes here. Not part of `make test`: run it before a release and record it in docs/mutation.md.
# mutmut is the optional `mutation` extra, installed here only; mutants/ is rebuilt every run so no
# cached verdict outlives a change to the tests.
MUTMUT := $(VENV)/bin/mutmut
mutation: $(INSTALLED)
	@test -x $(MUTMUT) || PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PY) -m pip install -qq -e '.[dev,mutation]'
	rm -rf mutants
	mkdir -p mutants && $(MUTMUT) run --max-children 2 >mutants/run.log 2>&1 || { tail -n 30 mutants/run.log; exit 1; }
	$(PY) -m ops.mutation_score
