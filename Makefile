# Two entry points for a fresh machine with nothing but Python 3.11+:
#   make run   - set up .venv with what running needs and start the bot on its embedded
#                defaults (SQLite file): with no bot token configured, the sandbox (a local
#                Telegram + web page)
#   make test  - add the dev extra (pytest, hypothesis, ruff, playwright, pip-tools,
#                pip-audit) and run lint + tests (the whole suite, as CI does)
#   make test-fast - the same without the `e2e` and `slow` tests, for the edit loop
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint venv dev clean lock audit

# The exact versions come from the lock files (pip-compile); the package itself on top.
# The runtime install: requirements.lock only. Its stamp of the dev extra is dropped, so
# the next `make test` adds the dev tools again.
$(BIN)/minyi: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.dev
	touch $(BIN)/minyi

# The dev extra (requirements-dev.lock is constrained by requirements.lock).
$(VENV)/.dev: $(BIN)/minyi requirements-dev.lock
	$(BIN)/pip install --quiet -r requirements-dev.lock
	touch $(VENV)/.dev

venv: $(BIN)/minyi

dev: $(VENV)/.dev

run: venv
	@if [ -n "$$MINYI_BOT_TOKEN" ] || grep -Eqs '^[[:space:]]*token[[:space:]]*=[[:space:]]*"[^"]+' config.toml; \
	then exec $(BIN)/minyi run; else exec $(BIN)/minyi sandbox; fi

lint: dev
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

# The edit loop: no real processes, browsers or long property runs (markers in
# tests/conftest.py). `make test` stays the full suite CI runs.
test-fast: dev
	$(BIN)/ruff check .
	$(BIN)/pytest -q -m "not slow and not e2e"

# Re-pin after changing dependencies in pyproject.toml (or to take newer releases).
lock: dev
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--upgrade --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev --constraint requirements.lock --output-file requirements-dev.lock \
		pyproject.toml

# Known vulnerabilities in the locked versions (pip-audit; says so when it cannot check).
audit: dev
	$(BIN)/python .ci/audit.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
