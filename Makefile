# Quick start: `make run` (install, train + evaluate on the shipped data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCHMARK ?= ../shared/benchmark
# dvc runs the stage commands (`triage ...`) through the shell: put the venv first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install java run test lint benchmark-real clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

## The Spark engine (and its test) needs Java 17+; a fresh CI machine has only Python (we are root there).
java:
	@command -v java >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless; }

## The main job: the DVC pipeline (prepare -> train -> evaluate) on data/raw, then the headline metrics.
run: install
	$(BIN)/dvc repro
	$(BIN)/triage metrics reports/metrics.json

## The whole test suite (CI runs exactly this).
test: install java
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Evaluation only: the real-comment benchmark beside the project (never trained or tuned on).
benchmark-real: install
	$(BIN)/triage evaluate --no-track --out reports/benchmark/all $(foreach l,ru uk bg en,--data $(BENCHMARK)/real_$(l).jsonl)
	@for lang in ru uk bg en; do \
		echo "== $(BENCHMARK)/real_$$lang.jsonl"; \
		$(BIN)/triage evaluate --no-track --data $(BENCHMARK)/real_$$lang.jsonl --out reports/benchmark/$$lang || exit 1; \
	done

clean:
	rm -rf $(VENV) data/processed artifacts mlruns mlflow.db
