"""Shared fixtures: a small stratified sample of the shipped corpus and a model fitted on it."""

import json
import random
import socket
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from triage.models.artifact import TriageModel
from triage.train.corpus import corpus_files, load_corpus
from triage.train.fit import ModelConfig, fit_model
from triage.train.prepare import SplitSettings, split_examples

PROJECT = Path(__file__).resolve().parent.parent
RAW = PROJECT / "data" / "raw"


def free_port() -> int:
    """A free TCP port on the loopback interface, for servers the tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_jsonl(path: Path, rows: list) -> Path:
    """Rows may be dicts (dumped as JSON) or raw strings (written verbatim)."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            handle.write("\n")
    return path


@pytest.fixture(scope="session")
def corpus_examples():
    loaded = load_corpus(corpus_files(RAW))
    assert loaded.examples, "the shipped corpus is empty"
    return loaded.examples


@pytest.fixture(scope="session")
def sample_examples(corpus_examples):
    """About 40 rows per language × cause × troll cell at most: fast to fit, every label present."""
    by_cell = defaultdict(list)
    for e in corpus_examples:
        if not e.is_augmented:
            by_cell[(e.lang, e.cause, e.troll)].append(e)
    rng = random.Random(7)
    sample = []
    for key in sorted(by_cell, key=str):
        rows = by_cell[key]
        sample.extend(rng.sample(rows, min(len(rows), 40)))
    return sample


@pytest.fixture(scope="session")
def sample_splits(sample_examples):
    splits = split_examples(sample_examples, SplitSettings(seed=3))
    return {name: pd.DataFrame([e.to_record() for e in rows]) for name, rows in splits.items()}


@pytest.fixture(scope="session")
def fitted_model(sample_splits) -> TriageModel:
    config = ModelConfig.read(PROJECT / "configs" / "linear.yaml")
    config.params["max_features"] = 50_000
    return fit_model(sample_splits["train"], sample_splits["valid"], config)
