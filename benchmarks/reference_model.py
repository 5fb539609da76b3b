"""The TF-IDF model fitted inside a benchmark run, so that every speed ratio against the default
comes from one run on one machine (the registry holds only the default's versions).

Used by benchmarks/batch.py and benchmarks/serve_load.py; needs data/processed from `dvc repro`.
"""

import tempfile
from pathlib import Path

import pandas as pd

PROCESSED = Path("data/processed")
REFERENCE_CONFIG = Path("configs/linear.yaml")


def fit_saved(folder: Path, config_path: Path = REFERENCE_CONFIG) -> Path:
    """Fit the kind of `config_path` on the train split (valid for calibration) into `folder`."""
    from triage.models.artifact import save_model
    from triage.train.fit import ModelConfig, fit_model

    def read(split: str) -> pd.DataFrame:
        return pd.read_json(PROCESSED / f"{split}.jsonl", lines=True, dtype={"troll": bool, "text": str})

    model = fit_model(read("train"), read("valid"), ModelConfig.read(config_path))
    save_model(model, folder)
    return folder


def save_mlflow(model_dir: Path, folder: Path) -> Path:
    """The artifact as a local MLflow pyfunc model (what the Spark engine loads), no registry."""
    import mlflow.pyfunc
    from triage.models.pyfunc import ARTIFACT_KEY
    from triage.train.tracking import model_code_script

    with tempfile.TemporaryDirectory() as tmp:  # models from code, as training logs them: no pickle
        script = model_code_script(Path(tmp))
        artifacts = {ARTIFACT_KEY: str(model_dir)}
        mlflow.pyfunc.save_model(str(folder), python_model=str(script), artifacts=artifacts)
    return folder
