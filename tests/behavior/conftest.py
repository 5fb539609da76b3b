"""The fast model's recipe on the shipped corpus: the split `prepare` makes, fitted as `train` does.

CI fits the fast tier (`configs/linear.yaml`): fine-tuning the default encoder on the full
corpus is the pipeline's job (most of an hour on 2 cores), not a test's. The same suite runs
on the trained default model with `python benchmarks/robustness.py`."""

from pathlib import Path

import pandas as pd
import pytest
from triage.train.behavior import model_predict
from triage.train.config import read_yaml
from triage.train.fit import ModelConfig, fit_model
from triage.train.prepare import SplitSettings, prepare

PROJECT = Path(__file__).resolve().parents[2]
FAST_CONFIG = "configs/linear.yaml"


@pytest.fixture(scope="session")
def full_splits(tmp_path_factory):
    values = read_yaml(PROJECT / "params.yaml")["prepare"]
    settings = SplitSettings(
        seed=values["seed"],
        valid_fraction=values["valid_fraction"],
        test_fraction=values["test_fraction"],
        near_duplicate_threshold=values["near_duplicate_threshold"],
    )
    out = tmp_path_factory.mktemp("prepared")
    splits = prepare(PROJECT / values["raw_dir"], out, out / "counts.csv", settings).splits
    return {name: pd.DataFrame([e.to_record() for e in rows]) for name, rows in splits.items()}


@pytest.fixture(scope="session")
def full_model(full_splits):
    config = ModelConfig.read(PROJECT / FAST_CONFIG)
    return fit_model(full_splits["train"], full_splits["valid"], config)


@pytest.fixture(scope="session")
def predict(full_model):
    return model_predict(full_model)
