"""The analysts' page: one self-contained `index.html` per evaluation.

Images are inlined as base64 PNG and the page has no scripts and no external links, so it
opens offline, can be mailed or archived, and is shown as is by the MLflow UI. Comment texts
are HTML-escaped by the template engine: quoted comments can never inject markup.
"""

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from triage.models.labels import CAUSE_MEANINGS, CAUSES, TROLL_MEANING
from triage.train.metrics import SCOPES

TEMPLATES = Path(__file__).parent / "templates"
REPORT = "index.html"
_EXAMPLE_CHARS = 280


def file_md5(path: Path) -> str:
    """MD5 of a file, the hash DVC records for it in dvc.lock."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def data_version(files: list[Path], lock_path: Path = Path("dvc.lock")) -> dict[str, Any]:
    """What was evaluated: each file's MD5 and, from dvc.lock, the corpus version it came from."""
    version: dict[str, Any] = {"files": [{"path": str(p), "md5": file_md5(p)} for p in files]}
    if lock_path.is_file():
        stages = (yaml.safe_load(lock_path.read_text()) or {}).get("stages", {})
        prepare = stages.get("prepare", {})
        for entry in [*prepare.get("deps", []), *prepare.get("outs", [])]:
            if entry.get("path") in ("data/raw", "data/processed"):
                version[entry["path"]] = entry.get("md5")
    return version


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pred_score(row: pd.Series, task: str) -> float:
    if task == "troll":
        return float(row.troll_score)
    return float(row.cause_proba[CAUSES.index(row.pred_cause)])


def _confidence(row: pd.Series, task: str) -> float:
    """How sure the model was of its (wrong) answer: ranks the examples of a confusion."""
    if task == "troll":
        return float(row.troll_score if row.pred_troll else 1 - row.troll_score)
    return _pred_score(row, task)


def _example(row: pd.Series, task: str) -> dict[str, Any]:
    text = row.text if len(row.text) <= _EXAMPLE_CHARS else row.text[:_EXAMPLE_CHARS] + "…"
    return {"text": text, "lang": row.lang, "id": row.get("id"), "score": round(_pred_score(row, task), 2)}


def frequent_confusions(scored: pd.DataFrame, top: int = 8, examples: int = 3) -> list[dict[str, Any]]:
    """The most frequent wrong (actual → predicted) pairs of both heads, largest first, each with
    its count per language and the comments the model was most confident about."""
    wrong = {
        "cause": scored[scored.cause != scored.pred_cause].assign(
            actual=lambda f: f.cause, pred=lambda f: f.pred_cause
        ),
        "troll": scored[scored.troll != scored.pred_troll].assign(
            actual=lambda f: f.troll.map({True: "troll", False: "not troll"}),
            pred=lambda f: f.pred_troll.map({True: "troll", False: "not troll"}),
        ),
    }
    found = []
    for task, rows in wrong.items():
        if rows.empty:
            continue
        for (actual, pred), group in rows.groupby(["actual", "pred"], sort=False):
            support = int((scored[task] == group[task].iloc[0]).sum())
            ranked = group.assign(_score=group.apply(_confidence, axis=1, task=task)).sort_values(
                "_score", ascending=False, kind="stable"
            )
            found.append(
                {
                    "task": task,
                    "actual": actual,
                    "predicted": pred,
                    "count": len(group),
                    "share": len(group) / support,
                    "by_lang": group.lang.value_counts().reindex(SCOPES[1:], fill_value=0).to_dict(),
                    "examples": [_example(r, task) for _, r in ranked.head(examples).iterrows()],
                }
            )
    found.sort(key=lambda c: (-c["count"], c["task"], c["actual"], c["predicted"]))
    return found[:top]


def write_report(
    scored: pd.DataFrame, report: dict[str, Any], out_dir: Path, title: str = "test split"
) -> Path:
    """Render `out_dir/index.html` from the scored rows, the metrics and the images the
    evaluation wrote (`confusion/*.png`, `plots/troll_pr.png`)."""
    matrices = []
    for scope in SCOPES:
        images = {task: out_dir / "confusion" / f"{task}_{scope}.png" for task in ("cause", "troll")}
        if scope in report and all(p.exists() for p in images.values()):
            matrices.append(
                {"scope": scope, "n": report[scope]["cause"]["n"], **{t: _png(p) for t, p in images.items()}}
            )
    pr_curve = out_dir / "plots" / "troll_pr.png"
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]))
    html = env.get_template("report.html.j2").render(
        title=title,
        report=report,
        scopes=[s for s in SCOPES if s in report],
        causes=CAUSES,
        meanings=CAUSE_MEANINGS,
        troll_meaning=TROLL_MEANING,
        matrices=matrices,
        pr_curve=_png(pr_curve) if pr_curve.exists() else None,
        confusions=frequent_confusions(scored),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path = out_dir / REPORT
    path.write_text(html, encoding="utf-8")
    return path
