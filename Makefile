# The two commands a user needs: `make dev` and `make test`. Everything installs itself.
SHELL := /bin/bash
PORT ?= 3000
# Processes that run `make dev`'s handlers at once (0: in the server's own process, one at a time).
WORKERS ?= 4
# Where `make dev` keeps its data (empty: nowhere); relative paths are from the repo root.
DATA_DIR ?= .devserver/data

# Lambda runs python3.12: prefer it (pyenv keeps one on these machines), else the machine's python3.
PY312 := $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' 2>/dev/null && command -v python3.12 || ls -d $(HOME)/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
PYTHON ?= $(if $(PY312),$(PY312),python3)
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
FUZZ := .venv-fuzz
# The LiteLLM proxy and the plugin (integrations/litellm): pins of their own, on python3.12.
LITELLM_VENV := .venv-litellm
LITELLM_PORT ?= 4000
LITELLM_CONFIG ?= integrations/litellm/config.yaml
# LiteLLM's own Python client (litellm.proxy.client), at the version `make compat` holds us to.
LITELLM_CLIENT_VENV := .venv-litellm-client
PY := $(VENV)/bin/python

.PHONY: dev dev-reset audit-tail reset-budgets test unit plugin integration e2e browser lint typecheck validate scan build bench openapi load fuzz litellm compat clean

$(VENV)/.installed: requirements.txt shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# sam and cfn-lint pin their own boto3; they live in a venv of their own.
$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/bin/python -m pip install -q -r requirements-tools.txt
	touch $@

# checkov (the security scan) pins its own boto3 and more: a venv of its own too.
$(CHECKOV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV)/bin/python -m pip install -q -r requirements-checkov.txt
	touch $@

# schemathesis only for `make fuzz`, in a venv of its own (its pins are not .venv's). .venv has
# hypothesis too, for the property tests of hostile input, at a version inside schemathesis' range.
$(FUZZ)/.installed: requirements-fuzz.txt requirements.txt shared/requirements.txt
	$(PYTHON) -m venv $(FUZZ)
	$(FUZZ)/bin/python -m pip install -q --upgrade pip
	$(FUZZ)/bin/python -m pip install -q -r requirements-fuzz.txt
	touch $@

# LiteLLM's proxy refuses Python 3.13 and needs 3.12's wheels: no fallback to another python.
$(LITELLM_VENV)/.installed: requirements-litellm.txt integrations/litellm/pyproject.toml
	@test -n "$(PY312)" || { echo "the LiteLLM proxy needs python3.12 (pyenv install 3.12)" >&2; exit 1; }
	$(PY312) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install -q -r requirements-litellm.txt
	$(LITELLM_VENV)/bin/python -m pip install -q --no-deps -e integrations/litellm
	touch $@

$(LITELLM_CLIENT_VENV)/.installed: requirements-litellm-client.txt
	@test -n "$(PY312)" || { echo "LiteLLM's client needs python3.12 (pyenv install 3.12)" >&2; exit 1; }
	$(PY312) -m venv $(LITELLM_CLIENT_VENV)
	$(LITELLM_CLIENT_VENV)/bin/python -m pip install -q --upgrade pip
	$(LITELLM_CLIENT_VENV)/bin/python -m pip install -q -r requirements-litellm-client.txt
	touch $@

dev: $(VENV)/.installed
	PYTHONPATH=shared:. $(PY) -m teamledger.http.compiled
	PORT=$(PORT) DATA_DIR="$(DATA_DIR)" WORKERS=$(WORKERS) $(PY) -m tests.support.devserver

# Empties `make dev`'s DATA_DIR: its tables, audit stream and layout go. A folder that is not
# one `make dev` wrote (no layout.json, not empty) is left alone.
dev-reset:
	@if [ -n "$$(ls -A "$(DATA_DIR)" 2>/dev/null)" ] && [ ! -e "$(DATA_DIR)/layout.json" ]; then \
		echo "dev-reset: $(DATA_DIR) is not a make dev data folder; not removed" >&2; exit 1; fi
	rm -rf -- "$(DATA_DIR)"

# The audit records the `make dev` on $(PORT) (or AWS_ENDPOINT_URL) publishes, one JSON a line,
# from its carrier (on the FIFO queue as its consumer: each record once; see the README)
# (the recipe is not echoed, so the output pipes into jq as it is).
audit-tail: $(VENV)/.installed
	@PORT=$(PORT) $(PY) -m tests.support.audittail

# One run of the budget reset against the `make dev` on $(PORT) (or AWS_ENDPOINT_URL); prints
# its report (read, reset, skipped, stopped_early, errors) as JSON. RESET_NOW=<ISO-8601 time>
# runs it as of that moment instead of now (e.g. RESET_NOW=2026-11-27T07:00:00Z).
reset-budgets: $(VENV)/.installed
	@PORT=$(PORT) $(PY) -m tests.support.resetbudgets

test: lint typecheck validate scan unit plugin integration e2e browser compat build

lint: $(VENV)/.installed
	$(PY) -m ruff check .

# mypy, strict on the layer (pyproject.toml's [tool.mypy]).
typecheck: $(VENV)/.installed
	$(PY) -m mypy

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

integration: $(VENV)/.installed
	$(PY) -m pytest -q tests/integration

# The plugin's own tests, in the proxy's venv (they import LiteLLM).
plugin: $(LITELLM_VENV)/.installed
	cd integrations/litellm && ../../$(LITELLM_VENV)/bin/python -m pytest -q -p no:cacheprovider tests

# LiteLLM's own client against `make dev`'s server, in the client's venv; the server runs in
# $(VENV), as `make dev` does.
compat: $(VENV)/.installed $(LITELLM_CLIENT_VENV)/.installed
	$(LITELLM_CLIENT_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/compat

# tests/e2e/test_litellm_proxy.py starts LiteLLM proxies from $(LITELLM_VENV).
e2e: $(VENV)/.installed $(LITELLM_VENV)/.installed
	$(PY) -m pytest -q tests/e2e

# The console (/ui) in headless Chromium against a dev server of its own; screenshots go to
# .browser-screenshots/. Debian's chromium and chromium-driver are installed when missing (as
# root, or with sudo).
browser: $(VENV)/.installed
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update && apt-get install -y chromium chromium-driver'; fi
	$(PY) -m pytest -q tests/browser

validate: $(TOOLS)/.installed
# --config-env translate-only: a config env with no settings, so samconfig's `lint = true` does
# not turn the plain SAM translation check into a second lint run.
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --template template.yaml --region us-east-1 --config-env translate-only
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(TOOLS)/bin/cfn-lint template.yaml

# The security scan of template.yaml: 0 failed checks. Each skip is justified where it is, in
# template.yaml (`# checkov:skip=CKV_...:reason`).
scan: $(CHECKOV)/.installed
	$(CHECKOV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet \
		--skip-download

# The layer ships botocore's data as a marshal cache (shared/teamledger/store/botocore_data.py),
# written first by the layer's Python and botocore (shared/requirements.txt pins it), and the API's
# models compiled for pydantic-core (shared/teamledger/http/compiled.py: no pydantic at a cold start).
build: $(TOOLS)/.installed $(VENV)/.installed
	PYTHONPATH=shared $(PY) -m teamledger.store.botocore_data
	PYTHONPATH=shared:. $(PY) -m teamledger.http.compiled
	$(if $(PY312),SAM_CLI_TELEMETRY=0 PATH=$(dir $(PY312)):$$PATH $(TOOLS)/bin/sam build,@echo "build skipped: sam build needs python3.12 (the Lambda runtime) and none was found (pyenv install 3.12)")
	$(if $(PY312),test -d .aws-sam/build/SharedLayer/python/teamledger/store/_botocore_data,)
	$(if $(PY312),test -f .aws-sam/build/SharedLayer/python/teamledger/http/_compiled/models.pickle,)

# docs/openapi.json from the route functions' code; tests/unit/test_openapi.py fails when stale.
openapi: $(VENV)/.installed
	$(PY) -m tests.support.openapi

bench: $(VENV)/.installed $(LITELLM_VENV)/.installed
	PYTHONPATH=shared:. $(PY) -m bench

# LOAD_CLIENTS (16) clients send a mixed workload for LOAD_SECONDS (30) to a dev server of its own
# (a fresh moto, not the `make dev` on PORT), then every acknowledged change is read back; prints
# rps and p50/p99 per operation, errors and lost updates, and fails if either is not 0.
load: $(VENV)/.installed
	$(PY) -m tests.support.load

# schemathesis with docs/openapi.json against a dev server of its own, every operation with the
# master key and a non-admin key (FUZZ_EXAMPLES positive + FUZZ_NEGATIVE negative cases each,
# FUZZ_SEED); prints cases run, 5xx and schema violations, and fails if either is not 0.
fuzz: $(FUZZ)/.installed
	$(FUZZ)/bin/python -m tests.support.fuzz

# A LiteLLM proxy on LITELLM_PORT with the plugin, in front of the `make dev` on PORT (or
# TEAMLEDGER_URL), with LITELLM_CONFIG (default: mock models priced per token). The gateway key:
# TEAMLEDGER_KEY, else one generated with MASTER_KEY (make dev's).
litellm: $(VENV)/.installed $(LITELLM_VENV)/.installed
	PORT=$(PORT) LITELLM_PORT=$(LITELLM_PORT) LITELLM_CONFIG="$(LITELLM_CONFIG)" $(PY) -m tests.support.litellmproxy

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) $(FUZZ) $(LITELLM_VENV) $(LITELLM_CLIENT_VENV) .aws-sam .pytest_cache .mypy_cache
