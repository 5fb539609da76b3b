"""Plain-file persistence for model parts: JSON for settings, `.npz` without pickle for arrays.

Why: a pickle (or joblib) file runs code when it is loaded, so a tampered model file would
run code in `triage predict`, `serve`, `batch`, Spark and MLflow. JSON and NumPy's own array
format (read with `allow_pickle=False`) only ever give back numbers and strings.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """One `.npz` file; object arrays are refused (they would need pickle to read back)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype.hasobject:
            raise ValueError(f"{path.name}: array {name!r} holds Python objects; store it as JSON")
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a `.npz`, read eagerly and never through pickle."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
