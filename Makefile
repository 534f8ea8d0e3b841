# Two entry points for a fresh machine with nothing but Python 3.11+:
#   make run   - set up .venv and start the bot on its embedded defaults (SQLite file):
#                with no bot token configured, the sandbox (a local Telegram + web page)
#   make test  - set up .venv with the dev extra and run lint + tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv clean lock audit

# The exact versions come from the lock files (pip-compile); the package itself on top.
$(BIN)/minyi: pyproject.toml requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/minyi

venv: $(BIN)/minyi

run: venv
	@if [ -n "$$MINYI_BOT_TOKEN" ] || grep -Eqs '^[[:space:]]*token[[:space:]]*=[[:space:]]*"[^"]+' config.toml; \
	then $(BIN)/minyi run; else $(BIN)/minyi sandbox; fi

lint: venv
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

# Re-pin after changing dependencies in pyproject.toml (or to take newer releases).
lock: venv
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--upgrade --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev --constraint requirements.lock --output-file requirements-dev.lock \
		pyproject.toml

# Known vulnerabilities in the locked versions (pip-audit; says so when it cannot check).
audit: venv
	$(BIN)/python .ci/audit.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
