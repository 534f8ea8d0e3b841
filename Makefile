# Two entry points for a fresh machine with nothing but Python 3.11+:
#   make run   - set up .venv and start the bot on its embedded defaults (SQLite file):
#                with no bot token configured, the sandbox (a local Telegram + web page)
#   make test  - set up .venv with the dev extra and run lint + tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv clean

$(BIN)/minyi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/minyi

venv: $(BIN)/minyi

run: venv
	@if [ -n "$$MINYI_BOT_TOKEN" ] || grep -Eqs '^[[:space:]]*token[[:space:]]*=[[:space:]]*"[^"]+' config.toml; \
	then $(BIN)/minyi run; else $(BIN)/minyi sandbox; fi

lint: venv
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
