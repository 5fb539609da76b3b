"""Confusion matrices as CSV (counts and row-normalised), PNG heatmaps and DVC plot rows."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix
from triage.models.labels import CAUSES
from triage.train.metrics import SCOPES, scope_frame

TASKS = {
    "cause": ("cause", "pred_cause", list(CAUSES)),
    "troll": ("troll", "pred_troll", [False, True]),
}


def _matrices(truth: pd.Series, pred: pd.Series, labels: list) -> tuple[np.ndarray, np.ndarray]:
    counts = confusion_matrix(truth, pred, labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros_like(counts, float), where=totals > 0)
    return counts, normalised


def _heatmap(ax, matrix: np.ndarray, names: list[str], title: str, fmt: str) -> None:
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(matrix.max(), 1e-9))
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    high = matrix.max() / 2
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if value > high else "black"
        ax.text(j, i, format(value, fmt), ha="center", va="center", color=colour, fontsize=8)


def write_confusion(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """For each task and scope: counts/normalised CSV, a PNG, and per-row CSV for `dvc plots`."""
    written: list[Path] = []
    matrix_dir, rows_dir = out_dir / "confusion", out_dir / "plots"
    matrix_dir.mkdir(parents=True, exist_ok=True)
    for task, (truth_col, pred_col, labels) in TASKS.items():
        (rows_dir / task).mkdir(parents=True, exist_ok=True)
        names = [str(label).lower() if task == "troll" else label for label in labels]
        names = ["not troll", "troll"] if task == "troll" else names
        for scope in SCOPES:
            part = scope_frame(frame, scope)
            if part.empty:
                continue
            counts, normalised = _matrices(part[truth_col], part[pred_col], labels)
            stem = f"{task}_{scope}"
            for suffix, matrix in (("counts", counts), ("normalized", normalised)):
                path = matrix_dir / f"{stem}_{suffix}.csv"
                pd.DataFrame(matrix, index=names, columns=names).rename_axis("actual \\ predicted").to_csv(
                    path, float_format="%.4f"
                )
                written.append(path)
            figure, axes = plt.subplots(1, 2, figsize=(13 if task == "cause" else 8, 5.5))
            label = "all languages" if scope == "all" else scope
            _heatmap(axes[0], counts, names, f"{task}: counts ({label}, n={len(part)})", "d")
            _heatmap(axes[1], normalised, names, f"{task}: row-normalised ({label})", ".2f")
            figure.tight_layout()
            png = matrix_dir / f"{stem}.png"
            figure.savefig(png, dpi=110)
            plt.close(figure)
            written.append(png)
            rows = pd.DataFrame(
                {
                    "actual": part[truth_col].map(dict(zip(labels, names, strict=True))),
                    "predicted": part[pred_col].map(dict(zip(labels, names, strict=True))),
                }
            )
            rows_path = rows_dir / task / f"{scope}.csv"
            rows.to_csv(rows_path, index=False)
            written.append(rows_path)
    return written
