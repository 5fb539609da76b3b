"""Confusion matrices as CSV (counts and row-normalised), PNG heatmaps and DVC plot rows;
the troll precision-recall curve."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_curve
from triage.models.labels import CAUSES
from triage.train.metrics import SCOPES, scope_frame

TASKS = {
    "cause": ("cause", "pred_cause", list(CAUSES)),
    "troll": ("troll", "pred_troll", [False, True]),
}


TROLL_NAMES = ["not troll", "troll"]


def task_names(task: str) -> list[str]:
    """Axis names of a task's matrix: cause labels as in the contract, troll as words."""
    return TROLL_NAMES if task == "troll" else list(TASKS[task][2])


def _matrices(truth: pd.Series, pred: pd.Series, labels: list) -> tuple[np.ndarray, np.ndarray]:
    counts = confusion_matrix(truth, pred, labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros_like(counts, float), where=totals > 0)
    return counts, normalised


def heatmap(ax, matrix: np.ndarray, names: list[str], title: str, fmt: str) -> None:
    """Draw one labelled matrix (actual rows, predicted columns) with its values printed."""
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
        names = task_names(task)
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
            heatmap(axes[0], counts, names, f"{task}: counts ({label}, n={len(part)})", "d")
            heatmap(axes[1], normalised, names, f"{task}: row-normalised ({label})", ".2f")
            figure.tight_layout()
            png = matrix_dir / f"{stem}.png"
            figure.savefig(png, dpi=110, metadata={"Software": None})
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


def troll_pr_curve(frame: pd.DataFrame, threshold: float, out_dir: Path) -> Path | None:
    """Precision-recall of the troll score per scope, the operating threshold marked; also the
    overall curve as CSV for `dvc plots`. None when a scope lacks trolls or non-trolls."""
    truth = frame.troll.to_numpy(bool)
    if truth.all() or not truth.any():
        return None
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    figure, ax = plt.subplots(figsize=(7, 5.5))
    for scope in SCOPES:
        part = scope_frame(frame, scope)
        labels = part.troll.to_numpy(bool)
        if labels.all() or not labels.any():
            continue
        precision, recall, thresholds = precision_recall_curve(labels, part.troll_score.to_numpy(float))
        overall = scope == "all"
        ax.plot(recall, precision, lw=2.2 if overall else 1, alpha=1 if overall else 0.6,
                label="all languages" if overall else scope, drawstyle="steps-post")  # fmt: skip
        if overall:
            predicted = part.troll_score.to_numpy(float) >= threshold
            tp = int((predicted & labels).sum())
            at_p, at_r = tp / max(int(predicted.sum()), 1), tp / int(labels.sum())
            ax.plot([at_r], [at_p], "o", ms=9, color="crimson", zorder=5)
            ax.annotate(f"threshold {threshold:.2f}\nP={at_p:.2f} R={at_r:.2f}", (at_r, at_p),
                        textcoords="offset points", xytext=(-90, -38), color="crimson")  # fmt: skip
            rows = pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": thresholds})
            rows.round(4).to_csv(out_dir / "plots" / "troll_pr.csv", index=False)
    ax.set_xlabel("recall (share of trolls caught)")
    ax.set_ylabel("precision (share of flags that are trolls)")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("troll: precision-recall by score threshold")
    ax.legend(loc="lower left")
    figure.tight_layout()
    png = out_dir / "plots" / "troll_pr.png"
    figure.savefig(png, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return png
