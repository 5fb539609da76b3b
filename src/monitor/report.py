"""`reports/monitor.json` and a self-contained HTML page (inline SVG charts, one per cause + trolls)."""

import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from triage.models.labels import CAUSES
from triage.monitor.counts import ALL_LANGS, TROLL, unknown_labels
from triage.monitor.detect import Detection, MonitorSettings


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def report_json(
    counts: pd.DataFrame, detection: Detection, settings: MonitorSettings, source: Path, comments: int
) -> dict[str, Any]:
    series = []
    for kind, lang in counts.columns:
        baseline = detection.baseline[(kind, lang)]
        series.append(
            {
                "kind": "troll" if kind == TROLL else "cause",
                "cause": None if kind == TROLL else kind,
                "lang": lang,
                "counts": counts[(kind, lang)].astype(int).tolist(),
                "baseline": [None if pd.isna(v) else round(float(v), 3) for v in baseline],
            }
        )
    flags = [
        {**row, "bucket": _iso(row["bucket"]), "kind": "troll" if row["kind"] == TROLL else "cause",
         "cause": None if row["kind"] == TROLL else row["kind"]}
        for row in detection.flags.to_dict("records")
    ]  # fmt: skip
    return {
        "source": str(source),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "comments": comments,
        "timezone": "UTC",
        "method": {**settings.describe(), "tests": detection.tests},
        "buckets": [_iso(b) for b in counts.index],
        "series": series,
        "flags": flags,
        "unknown_labels": unknown_labels(counts),
    }


def _chart(counts: pd.DataFrame, detection: Detection, kind: str, bucket: str) -> str:
    """One SVG: all languages (thick) and each language, baseline dashed, flagged points red."""
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "triage"}):  # text as text: a small page
        return _draw(counts, detection, kind, bucket)


def _draw(counts: pd.DataFrame, detection: Detection, kind: str, bucket: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    langs = [lang for k, lang in counts.columns if k == kind]
    for lang in langs:
        values = counts[(kind, lang)]
        width = 2.4 if lang == ALL_LANGS else 1.1
        (line,) = ax.plot(counts.index, values, lw=width, label=lang)
        if lang == ALL_LANGS:
            ax.plot(counts.index, detection.baseline[(kind, lang)], ls="--", lw=1, color=line.get_color(),
                    label="all: baseline")  # fmt: skip
    flagged = detection.flags[detection.flags["kind"] == kind]
    if len(flagged):
        ax.scatter(flagged["bucket"], flagged["count"], s=60, facecolors="none", edgecolors="red", lw=2,
                   zorder=5, label="flagged rise")  # fmt: skip
    ax.set_title(f"{kind}: comments per {bucket}" + ("" if kind == TROLL else " (trolls excluded)"))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def report_html(report: dict[str, Any], counts: pd.DataFrame, detection: Detection, bucket: str) -> str:
    method = report["method"]
    rows = "".join(
        f"<tr><td>{html.escape(f['bucket'])}</td><td>{html.escape(f['cause'] or 'troll')}</td>"
        f"<td>{html.escape(f['lang'])}</td><td>{f['count']}</td><td>{f['baseline']}</td><td>{f['ratio']}</td>"
        f"<td>{f['p_adjusted']:.2e}</td></tr>"
        for f in report["flags"]
    )
    table = (
        "<table><tr><th>bucket (UTC)</th><th>cause</th><th>lang</th><th>count</th><th>baseline</th>"
        f"<th>ratio</th><th>adjusted p</th></tr>{rows}</table>"
        if rows
        else "<p>No rise flagged.</p>"
    )
    charts = "".join(
        f"<section><h2>{html.escape(kind)}</h2>{_chart(counts, detection, kind, bucket)}</section>"
        for kind in (*CAUSES, TROLL)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>triage: complaint levels</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}
svg{{width:100%;height:auto}}</style></head><body>
<h1>Complaint levels</h1>
<p>{report["comments"]} scored comments from {html.escape(report["source"])}, per {bucket} (UTC),
{html.escape(report["buckets"][0])} to {html.escape(report["buckets"][-1])}.</p>
<p><b>Method.</b> {html.escape(method["baseline"])} (window {method["window"]}, at least
{method["min_history"]} buckets); {html.escape(method["test"])}; candidates need at least
{method["min_count"]} comments and {method["min_ratio"]}× the baseline;
{html.escape(method["correction"])} ({method["tests"]} tests) at FDR {method["fdr"]}.</p>
<h2>Flagged rises</h2>{table}{charts}
</body></html>
"""


def write_reports(report: dict[str, Any], page: str, json_path: Path, html_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(page, encoding="utf-8")
