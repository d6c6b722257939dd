# One venv, pinned. `make test` and `make demo` build it from scratch when missing.
SHELL := /bin/bash
PY313 := $(shell command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'pass' 2>/dev/null && echo python3.13 || ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration e2e lint typecheck demo bench clean lock node sam sam-build lint-tools promtool docker-build lock-lint-tools

$(STAMP): requirements/lock.txt requirements/dev.txt requirements/runtime.txt pyproject.toml
	@test -n "$(PY313)" || { echo "python3.13 not found (install it, or put it on PATH)"; exit 1; }
	test -x $(PY) || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/lock.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# The SAM CLI in its own venv (pinned by requirements/sam.txt, kept out of the runtime lock).
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
# SAM's python3.13 build workflow validates a real python3.13 binary on PATH (a pyenv shim fails its
# "Binary validation"): put the directory of the interpreter PY313 resolves to first on PATH.
PY313_BIN = $(shell $(PY313) -c 'import os, sys; print(os.path.dirname(sys.executable))')
SAM = PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-eu-west-1}" \
	$(SAM_VENV)/bin/sam

$(SAM_STAMP): requirements/sam.txt
	@test -n "$(PY313)" || { echo "python3.13 not found (install it, or put it on PATH)"; exit 1; }
	test -x $(SAM_VENV)/bin/python || $(PY313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q -r requirements/sam.txt
	touch $(SAM_STAMP)

sam: $(SAM_STAMP)

# Validate (with cfn-lint) and build the template as `sam deploy` would (.aws-sam/build); the tests in
# tests/infrastructure check what was built. samconfig.toml's build settings apply (cached, parallel).
# SAM's build cache is keyed by each folder's own files: lambda-build.mk (shared, outside them) changing
# must rebuild everything.
sam-build: $(SAM_STAMP)
	$(SAM) validate --lint
	@if [ ! lambda-build.mk -ot .aws-sam/lambda-build.stamp ]; then rm -rf .aws-sam/cache; fi
	$(SAM) build
	touch .aws-sam/lambda-build.stamp

# Test peers that are not Python (the third-party SMPP SMSC, the ASL validator), pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

# checkov and hadolint in their own venv: checkov's pins (boto3, packaging, ...) conflict with the dev lock.
LINT_VENV := .venv-checkov
$(LINT_VENV)/.installed: requirements/checkov.txt
	@test -n "$(PY313)" || { echo "python3.13 not found (install it, or put it on PATH)"; exit 1; }
	test -x $(LINT_VENV)/bin/python || $(PY313) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q --upgrade pip
	$(LINT_VENV)/bin/python -m pip install -q -r requirements/checkov.txt
	touch $@

lint-tools: $(LINT_VENV)/.installed

lock-lint-tools: lint-tools
	{ sed -n '1,3p' requirements/checkov.txt; $(LINT_VENV)/bin/python -m pip freeze; } > requirements/checkov.tmp
	mv requirements/checkov.tmp requirements/checkov.txt

# promtool checks the edge kit's Prometheus config and alert rules; Debian's prometheus package ships it.
promtool:
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

lint: venv lint-tools promtool
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)
	$(LINT_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download
	$(LINT_VENV)/bin/hadolint gateway/Dockerfile
	promtool check rules deploy/prometheus/alerts.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml

# The container image, where a Docker engine exists (CI runners with Docker; not these dev machines).
docker-build:
	@if docker info >/dev/null 2>&1; then docker build -f gateway/Dockerfile -t mcn-gateway:local .; \
	else echo "docker-build: skipped, no Docker engine here (docker info failed); the Dockerfile is linted by make lint"; fi

# Strict typing for the libraries and the protocol package (the paths are packages, checked as such).
TYPED := layers/core/mcn_core layers/smpp/mcn_smpp gateway/mcn_gateway/protocol
typecheck: venv
	$(VENV)/bin/mypy $(TYPED)

# MCN_REQUIRE_SAM_BUILD: the build-output tests fail, not skip, if the build is missing.
test: venv node lint sam-build
	MCN_REQUIRE_SAM_BUILD=1 $(VENV)/bin/pytest -q

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: venv node sam-build
	MCN_REQUIRE_SAM_BUILD=1 $(VENV)/bin/pytest -q tests/integration tests/infrastructure

e2e: venv node
	$(VENV)/bin/pytest -q tests/e2e

demo: venv node
	$(VENV)/bin/mcn demo

bench: venv node sam-build
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock: venv
	{ echo '# Full pinned lock of the dev venv (pip freeze). Regenerate with `make lock`.'; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements/lock.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LINT_VENV) .aws-sam node_modules .pytest_cache .ruff_cache
