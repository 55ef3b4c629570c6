# Two commands matter: `make demo` (the pipeline on a local broker) and
# `make test` (the whole test suite). Both set everything up themselves and
# are safe to run again.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-unit lint format bench model clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsevents needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[broker,test,lint]'
	@touch $(STAMP)

## setup: virtual environment, dependencies (with a Java runtime), Kafka jars, default model check
setup: $(STAMP)
	$(VENV)/bin/newsevents broker --fetch-only
	$(PY) -m newsevents.training.ensure_default

## demo: broker + worker + sample stream replay + live dashboard (Ctrl-C stops all)
demo: setup
	$(VENV)/bin/newsevents demo

## test: unit, integration (real Kafka) and browser tests
test: setup
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

## lint: ruff (lint and format check) and mypy; any finding fails
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/typecheck.py

## format: apply ruff's fixes and formatting
format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: model-only, full-pipeline, story-grouping and dashboard-feed benchmarks
bench: setup
	$(PY) bench/bench_model.py
	$(PY) bench/bench_pipeline.py
	$(PY) bench/bench_stories.py
	$(PY) bench/bench_dashboard.py

## model: retrain the shipped default model from training/data, then the company extractor from its evidence (deterministic)
model: $(STAMP)
	$(VENV)/bin/newsevents train --output model/default --report-dir training/report
	$(PY) -m newsevents.training.entities --model model/default --report-dir training/report

clean:
	rm -rf $(VENV) build *.egg-info
