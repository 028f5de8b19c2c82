# Every target installs what it needs first, so a fresh clone needs only `make demo` / `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
#: checkov's pins clash with the project's (boto3 among them): it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
#: The CDK CLI package.json pins, never whatever `npx cdk` would fetch (a package named
#: "cdk" that is not the CLI, on a clone without node_modules).
CDK := node_modules/.bin/cdk
#: Extra arguments for the CDK CLI: `make deploy ARGS="-c alarmEmail=ops@example.com"`.
ARGS ?=
#: Where `make synth` writes the cloud assembly.
CDK_OUT ?= cdk.out

.PHONY: install demo test test-unit test-integration test-local-aws test-infra lint synth deploy bootstrap cdk bench soak mutants clean

install: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/runtime-wheels.ok

$(STAMPS)/venv: requirements.txt requirements-dev.txt pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# The Lambda runtime's SDK and the Powertools layer's packages, for the runtime check
# (tests/infra/test_lambda_runtime.py), which then installs them without the network.
$(STAMPS)/runtime-wheels.ok: tests/infra/lambda_runtime/layer.txt tests/infra/lambda_runtime/runtime.txt $(STAMPS)/venv
	$(PY) -m pip download --quiet --dest $(STAMPS)/runtime-wheels \
		-r tests/infra/lambda_runtime/layer.txt -r tests/infra/lambda_runtime/runtime.txt
	@touch $@

$(STAMPS)/checkov: requirements-checkov.txt
	@mkdir -p $(STAMPS)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: $(STAMPS)/venv
	$(PY) -m archiver demo

lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas local_aws infra app.py tests $(wildcard benchmarks)
	$(VENV)/bin/lint-imports

test-unit: $(STAMPS)/venv
	$(PY) -m pytest tests/unit -q

test-integration: $(STAMPS)/venv
	$(PY) -m pytest tests/integration -q

test-local-aws: $(STAMPS)/venv
	$(PY) -m pytest tests/local_aws -q

test-infra: install $(STAMPS)/checkov
	$(PY) -m pytest tests/infra -q

# In parallel, one worker per core (two on the reference machine), a file at a time, the
# longest files first (tests/conftest.py); each worker starts its own embedded AWS. The
# model of the system runs a fixed seed and a few examples here.
test: install lint $(STAMPS)/checkov
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

# The model of the system, longer and with fresh random interleavings (not in CI).
soak: $(STAMPS)/venv
	MODEL_RANDOM=1 MODEL_EXAMPLES=$${MODEL_EXAMPLES:-200} MODEL_STEPS=$${MODEL_STEPS:-40} \
		$(PY) -m pytest -q -o timeout=0 tests/integration/test_model.py

# Mutation testing of the safety nets (not in CI): planted defects in the sweep, the lease,
# purge, the batch, events and the history table, each run against the tests that reach it.
# MUTANT_TESTS=unit (about 15 minutes on two cores) runs the unit tests only; the default
# adds the integration files that drive these modules through the handler and the CLI
# (several hours: each mutant of a function those files reach runs all of them). The score
# and every survivor: `.venv/bin/mutmut results` in .mutation/ (the tree copied with
# archiver/ at its top, so a mutant's module is the one the tests import; see [tool.mutmut]
# in pyproject.toml).
mutants: $(STAMPS)/venv
	rm -rf .mutation && mkdir .mutation
	cp -r lambdas/archiver local_aws infra tests app.py cdk.json pyproject.toml .mutation/
	if [ "$${MUTANT_TESTS:-}" = unit ]; then $(PY) -c 'import re, pathlib; p = pathlib.Path(".mutation/pyproject.toml"); p.write_text(re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]", "pytest_add_cli_args_test_selection = [\"tests/unit\"]", p.read_text(), flags=re.S))'; fi
	cd .mutation && ../$(VENV)/bin/mutmut run --max-children $${MUTANT_WORKERS:-2}; \
		../$(VENV)/bin/mutmut results --all true | awk -F': ' '{print $$2}' | sort | uniq -c

synth: install
	$(CDK) synth --quiet --output $(CDK_OUT) $(ARGS)

# Asks before it changes IAM (the function's role, queue and topic policies); prints the
# stack's outputs at the end.
deploy: install
	$(CDK) deploy $(ARGS)

# Once per account and region: `make bootstrap ARGS=aws://123456789012/eu-west-1`.
bootstrap: install
	$(CDK) bootstrap $(ARGS)

# Any other CDK command with the pinned CLI: `make cdk ARGS=diff`.
cdk: install
	$(CDK) $(ARGS)

bench: $(STAMPS)/venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdk.out $(STAMPS)
