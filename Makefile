# Quick start: `make run` (install, train + evaluate on the shipped data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCHMARK ?= ../shared/benchmark
# dvc runs the stage commands (`triage ...`) through the shell: put the venv first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install chromium java run test lint docs benchmark-real clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

## Debian's Chromium for the browser test of the HTML report; fresh machines (CI) lack it.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## The Spark engine (and its test) needs Java 17+; a fresh CI machine has only Python.
java:
	@command -v java >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless; }

## The main job: the DVC pipeline (encoder -> prepare -> train -> evaluate) on data/raw, then the headline metrics.
## The default model blends a fine-tuned multilingual-e5-small with TF-IDF: about 12 minutes on 2 cores (docs/getting-started.md).
run: install
	$(BIN)/dvc repro
	$(BIN)/triage metrics reports/metrics.json

## The whole test suite (CI runs exactly this; tests/test_docs.py builds the site with --strict).
test: install chromium java
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The documentation site on http://127.0.0.1:8000, rebuilt on every edit of docs/, README.md or mkdocs.yml.
## `python -m`: the `mkdocs` script would put .venv/bin (with the `triage` script) first on
## sys.path and hide the package from the API reference.
docs: install
	$(BIN)/python -m mkdocs serve --watch README.md --watch data/README.md

## Evaluation only: the real-comment benchmark beside the project (never trained or tuned on).
benchmark-real: install
	$(BIN)/triage evaluate --no-track --out reports/benchmark/all $(foreach l,ru uk bg en,--data $(BENCHMARK)/real_$(l).jsonl)
	@for lang in ru uk bg en; do \
		echo "== $(BENCHMARK)/real_$$lang.jsonl"; \
		$(BIN)/triage evaluate --no-track --data $(BENCHMARK)/real_$$lang.jsonl --out reports/benchmark/$$lang || exit 1; \
	done
	# The model card (an output of `evaluate`) now shows these figures for this model version.
	$(BIN)/dvc repro --single-item --force evaluate

clean:
	rm -rf $(VENV) data/processed artifacts mlruns mlflow.db
