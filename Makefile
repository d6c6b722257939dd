# One venv, pinned. `make test` and `make demo` build it from scratch when missing.
SHELL := /bin/bash
PY313 := $(shell command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'pass' 2>/dev/null && echo python3.13 || ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration e2e lint typecheck demo bench clean lock node

$(STAMP): requirements/lock.txt requirements/dev.txt requirements/runtime.txt pyproject.toml
	@test -n "$(PY313)" || { echo "python3.13 not found (install it, or put it on PATH)"; exit 1; }
	test -x $(PY) || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/lock.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Test peers that are not Python (the third-party SMPP SMSC, the ASL validator), pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Strict typing for the libraries and the protocol package (the paths are packages, checked as such).
TYPED := layers/core/mcn_core layers/smpp/mcn_smpp gateway/mcn_gateway/protocol
typecheck: venv
	$(VENV)/bin/mypy $(TYPED)

test: venv node lint
	$(VENV)/bin/pytest -q

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: venv node
	$(VENV)/bin/pytest -q tests/integration tests/infrastructure

e2e: venv node
	$(VENV)/bin/pytest -q tests/e2e

demo: venv node
	$(VENV)/bin/mcn demo

bench: venv node
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock: venv
	{ echo '# Full pinned lock of the dev venv (pip freeze). Regenerate with `make lock`.'; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements/lock.txt

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
