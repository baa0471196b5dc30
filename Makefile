# Two commands matter: `make demo` (the main job, offline on moto) and `make test` (everything CI runs).
# Both bootstrap the pinned virtualenv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements-dev.txt | cut -c1-12)
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv demo test lint typecheck validate unit integration e2e bench fuzz invoke schedule build clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) -m offline_runtime.cli.demo $(DEMO_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

validate: venv
	$(VENV)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

test: lint typecheck validate
	$(PY) -m pytest $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: venv
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: venv
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# Long property-based runs of ingest over generated hostile files (random seed, ~20x the CI budget).
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/unit/test_ingest_properties.py -q $(PYTEST_ARGS)

bench: venv
	$(PY) -m offline_runtime.bench $(BENCH_ARGS)

# Offline `sam local invoke` (no Docker) for any SAM template:
#   make invoke FN=IngestFunction EVENT=events/ingest_transactions_csv.json
#   make invoke TEMPLATE=tests/apps/orders/template.yaml FN=OrderFlow EVENT=tests/apps/orders/events/order_flow.json
# Options: DATA=<file> (uploaded under the event's S3 key), FAULTS=<rules> (e.g. s3:PutObject:InternalError:always),
# CONCURRENCY=<n>, PARAMS="Key=Value ...". With this project's template, sample objects come from events/data and
# staged-dataset inputs are produced by running the real ingest first.
TEMPLATE ?= template.yaml
invoke: venv
	$(PY) -m offline_runtime.cli.invoke $(FN) -e $(EVENT) --template $(TEMPLATE) --server \
	  $(if $(DATA),--data $(DATA)) $(if $(FAULTS),--fault '$(FAULTS)') --concurrency $(or $(CONCURRENCY),1) \
	  $(foreach p,$(PARAMS),--param $(p)) \
	  $(if $(filter template.yaml ./template.yaml,$(TEMPLATE)),--data-dir events/data --prepare offline_runtime.scenario.fixtures:prepare) \
	  $(INVOKE_ARGS)

# Fire a schedule offline: make schedule NAME=DailyReportFunctionEndOfDay DATE=2026-11-22 [TEMPLATE=...]
schedule: venv
	$(PY) -m offline_runtime.cli.schedule $(NAME) --template $(TEMPLATE) $(if $(DATE),--date $(DATE)) \
	  $(if $(AT),--at $(AT)) $(foreach p,$(PARAMS),--param $(p)) $(SCHEDULE_ARGS)

build: venv
	$(VENV)/bin/sam build --template template.yaml

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache out
