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

.PHONY: venv demo test lint typecheck validate iac unit integration e2e bench fuzz invoke schedule build clean mutate redrive

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

# IaC rules: cfn-lint with the serverless rules (dev venv) and checkov (its own venv: checkov pins a
# boto3 the dev venv cannot have). 0 findings: each accepted one is skipped in the resource's
# Metadata with its reason (README "Accepted IaC findings"). --skip-download: no network.
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed-$(shell sha256sum requirements-iac.txt | cut -c1-12)

$(IAC_STAMP): requirements-iac.txt
	@test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	@$(IAC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-iac.txt
	@rm -f $(IAC_VENV)/.installed-* && touch $@

iac: venv $(IAC_STAMP)
	$(VENV)/bin/cfn-lint --template template.yaml --append-rules cfn_lint_serverless.rules
	$(IAC_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# Debian's Chromium, for the run report's real-browser test (tests/e2e/test_operations_day.py).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# One pytest worker per core (pytest-xdist); each module stays on one worker, so its offline stack
# is deployed once (tests/handlers/conftest.py shares one between that package's modules on a
# worker). PARALLEL= runs in one process.
PARALLEL ?= -n auto --dist loadfile

# The static checks run side by side (-O keeps each one's output together), then pytest (its
# slowest tests listed at the end; its wall time recorded in out/pytest-timing.json for make bench).
test: venv $(IAC_STAMP) $(CHROMIUM)
	$(MAKE) --no-print-directory -j4 -O lint typecheck validate iac
	$(PY) -m pytest $(PARALLEL) --durations=15 $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PARALLEL) $(PYTEST_ARGS)

integration: venv
	$(PY) -m pytest tests/integration $(PARALLEL) $(PYTEST_ARGS)

e2e: venv $(CHROMIUM)
	$(PY) -m pytest tests/e2e $(PARALLEL) $(PYTEST_ARGS)

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

# Fire a schedule offline: make schedule NAME=DailyReportFunctionDaily DATE=2026-11-22 [TEMPLATE=...]
schedule: venv
	$(PY) -m offline_runtime.cli.schedule $(NAME) --template $(TEMPLATE) $(if $(DATE),--date $(DATE)) \
	  $(if $(AT),--at $(AT)) $(foreach p,$(PARAMS),--param $(p)) $(SCHEDULE_ARGS)

# Mutation testing of the gate, fraud and inventory domain (mutmut; not part of `make test`).
# mutmut names mutants after the module path, so the layer's package is mutated from a copy in
# out/mutate where it is importable as `datapipe`; the domain unit tests run against each mutant.
# mutmut 3.8 needs click >= 8.4 while aws-sam-cli pins click 8.1.8: these two exact pins go to
# out/mutmut-lib, used only by this target (mutmut's other dependencies are in requirements-dev.txt).
MUTMUT_PINS := click==8.5.1 mutmut==3.8.1
# The decision logic; the DynamoDB adapters (dedupe, orders_dynamo, alerts, profiles) are tested
# against moto and left out, and so is the vectorised fraud table path (cross-checked against the
# per-record baseline and the per-event path, and by the split-invariance property), whose
# mutants each rerun the slowest suites.
MUTATE_FILES := quality/checks.py quality/history.py quality/sources.py quality/deliveries.py \
	fraud/rules.py fraud/history.py fraud/localtime.py \
	inventory/stock.py inventory/demand.py inventory/orders.py
MUTATE_TESTS := test_quality_checks.py test_quality_gate.py test_quality_dedupe_calendar.py \
	test_fraud.py test_fraud_domain.py test_inventory.py test_replenishment.py test_domain_edges.py \
	test_mutants_gate.py test_mutants_fraud.py test_mutants_inventory.py test_quality_profile.py
MUTATE_DIR := out/mutate
MUTMUT := PYTHONPATH=$(CURDIR)/out/mutmut-lib $(CURDIR)/$(PY) -m mutmut
mutate: venv
	test -d out/mutmut-lib/mutmut || $(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
	  --target out/mutmut-lib $(MUTMUT_PINS)
	rm -rf $(MUTATE_DIR) && mkdir -p $(MUTATE_DIR)/tests/unit
	cp -r layers/shared/datapipe offline_runtime $(MUTATE_DIR)/
	cp tests/conftest.py $(MUTATE_DIR)/tests/
	cp tests/unit/conftest.py tests/unit/gate_support.py $(addprefix tests/unit/,$(MUTATE_TESTS)) $(MUTATE_DIR)/tests/unit/
	printf '%s\n' '[tool.mutmut]' \
	  'source_paths = ["datapipe"]' \
	  'only_mutate = [$(foreach f,$(MUTATE_FILES),"datapipe/$(f)",)]' \
	  'pytest_add_cli_args_test_selection = ["tests/unit"]' \
	  'pytest_add_cli_args = ["-m", "not slow"]' \
	  'also_copy = ["offline_runtime"]' \
	  '[tool.pytest.ini_options]' 'pythonpath = ["."]' 'addopts = "-p no:cacheprovider -q"' \
	  'markers = ["slow: long runs"]' \
	  'filterwarnings = ["ignore::DeprecationWarning", "ignore:Tried to parse:UserWarning"]' \
	  > $(MUTATE_DIR)/pyproject.toml
	cd $(MUTATE_DIR) && $(MUTMUT) run --max-children 2
	cd $(MUTATE_DIR) && $(MUTMUT) results --all true > results.txt
	$(PY) -c "import sys,re; t=open('$(MUTATE_DIR)/results.txt').read(); s=re.findall(r'^\s*(\S+): (survived|no tests|timeout|suspicious)', t, re.M); print(t[-3000:]); print(len(s), 'mutants not killed')"

# Park, fix, replay, offline (datapipe.redrive, the tool that runs on AWS as
# `python -m datapipe.redrive --stack <name>`): make redrive [EVENT=events/....json] [FAULTS=...]
redrive: venv
	$(PY) -m offline_runtime.cli.redrive $(if $(EVENT),--event $(EVENT)) $(if $(FAULTS),--fault '$(FAULTS)') \
	  $(foreach p,$(PARAMS),--param $(p)) $(REDRIVE_ARGS)

build: venv
	$(VENV)/bin/sam build --template template.yaml

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache out
