"""The shipped model's recipe on the shipped corpus: the split `prepare` makes, fitted as `train` does."""

from pathlib import Path

import pandas as pd
import pytest
from triage.train.behavior import model_predict
from triage.train.config import read_yaml
from triage.train.fit import ModelConfig, fit_model
from triage.train.prepare import SplitSettings, prepare

PROJECT = Path(__file__).resolve().parents[2]


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
    config = ModelConfig.read(PROJECT / read_yaml(PROJECT / "params.yaml")["train"]["model_config"])
    return fit_model(full_splits["train"], full_splits["valid"], config)


@pytest.fixture(scope="session")
def predict(full_model):
    return model_predict(full_model)
