# Two commands matter: `make run` and `make test`. Everything else is a step they use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := wsgi:app
export DATABASE_URL ?= sqlite:///$(CURDIR)/instance/chengguan.sqlite3

.PHONY: run test install install-dev migrate demo serve lint clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What serving needs (`make run`): the service, PostgreSQL's driver, S3.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres,s3]'
	touch $@

# And the test tools (`make test`): pytest, Hypothesis, ruff, import-linter, moto, tuspy …
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres,s3]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	mkdir -p instance
	$(BIN)/alembic upgrade head

demo: migrate
	$(BIN)/flask demo load

serve: install
	$(BIN)/flask run --host $(HOST) --port $(PORT)

run: demo
	@echo "API docs: http://$(HOST):$(PORT)/api/v1/docs"
	$(BIN)/flask run --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The browser tests, saving their screenshots where the README shows them.
screenshots: install-dev
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/browser

clean:
	rm -rf $(VENV) instance .pytest_cache
