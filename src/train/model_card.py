"""The model card (`MODEL_CARD.md`): what the model is for, how it was trained and how it does.

`train` writes a draft into the model folder with what it knows (data, hyper-parameters,
valid metrics); `evaluate` completes it with the test split and the confusion matrices. Figures
on the real-comment benchmark appear only when they were measured for this very model (same
artifact digest); otherwise the card says they were not, never showing an older model's.
The card quotes only our own corpus, never benchmark texts.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from triage.models.artifact import MANIFEST, artifact_digest, read_manifest
from triage.models.labels import CAUSE_MEANINGS, CAUSES, LANGS, TROLL_MEANING
from triage.train.metrics import SCOPES

CARD = "MODEL_CARD.md"
_MIN_CELL = 3  # a confusion needs at least this many comments to be called a failure mode


def model_identity(model_dir: Path) -> dict[str, Any]:
    """Name, version, payload hash and MLflow run of a model folder: what results are tagged with."""
    manifest = read_manifest(model_dir)
    return {
        "sha256": artifact_digest(model_dir),
        "mlflow_run_id": manifest.get("mlflow", {}).get("run_id"),
        "created": manifest.get("created"),
    }


def data_counts(frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Rows per split by language and cause, and trolls: stored in the manifest for the card."""
    return {
        split: {
            "rows": len(frame),
            "trolls": int(frame.troll.sum()),
            "by_lang": {lang: int((frame.lang == lang).sum()) for lang in LANGS},
            "by_cause": {cause: int((frame.cause == cause).sum()) for cause in CAUSES},
        }
        for split, frame in frames.items()
    }


def label_examples(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """One short, genuine (non-troll) training comment per cause, languages in turn, and one troll."""
    examples: dict[str, dict[str, str]] = {}
    short = frame[frame.text.str.len().between(20, 110)]
    wanted = [(cause, LANGS[i % len(LANGS)], False) for i, cause in enumerate(CAUSES)]
    wanted.append(("troll", LANGS[len(CAUSES) % len(LANGS)], True))
    for label, lang, troll in wanted:
        rows = short[(short.troll == troll) & ((short.cause == label) if not troll else True)]
        rows = rows[rows.lang == lang] if (rows.lang == lang).any() else rows
        if not rows.empty:
            examples[label] = {"lang": rows.iloc[0].lang, "text": rows.iloc[0].text}
    return examples


def benchmark_results(bench_dir: Path, sha256: str) -> tuple[list[tuple[str, dict]], int]:
    """Benchmark evaluations (`*/metrics.json` under `bench_dir`) of this model, and how many
    results of other models were left out."""
    mine, others = [], 0
    for path in sorted(bench_dir.glob("*/metrics.json")):
        report = json.loads(path.read_text())
        if report.get("model", {}).get("sha256") == sha256:
            mine.append((path.parent.name, report))
        else:
            others += 1
    order = ["all", *LANGS]
    mine.sort(key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]))
    return mine, others


def _test_counts(test: dict[str, Any]) -> dict[str, Any]:
    """The test split's counts, read back from its metrics (supports)."""
    per_class = test["all"]["cause"]["per_class"]
    return {
        "rows": test["all"]["cause"]["n"],
        "trolls": test["all"]["troll"]["positives"],
        "by_lang": {lang: test[lang]["cause"]["n"] if lang in test else 0 for lang in LANGS},
        "by_cause": {cause: per_class[cause]["support"] for cause in CAUSES},
    }


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _metrics_table(rows: list[tuple[str, dict]]) -> list[str]:
    lines = [
        "| scope | n (trolls) | cause accuracy | cause macro-F1 | troll precision | troll recall | "
        "troll F1 | troll ROC-AUC | language accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        c, t = m["cause"], m["troll"]
        lines.append(
            f"| {name} | {c['n']} ({t['positives']}) | {_f(c['accuracy'])} | {_f(c['macro_f1'])} | "
            f"{_f(t['precision'])} | {_f(t['recall'])} | {_f(t['f1'])} | {_f(t['roc_auc'])} | "
            f"{_f(m['lang_accuracy'])} |"
        )
    return lines


def failure_modes(confusion_dir: Path, limit: int = 6) -> list[str]:
    """Sentences about the largest off-diagonal cells (by share of the true label) of the test
    matrices, with the language where each is worst, and about missed and false trolls."""
    found = []
    overall = pd.read_csv(confusion_dir / "cause_all_counts.csv", index_col=0)
    per_lang = {
        lang: pd.read_csv(confusion_dir / f"cause_{lang}_counts.csv", index_col=0)
        for lang in LANGS
        if (confusion_dir / f"cause_{lang}_counts.csv").exists()
    }
    for actual in overall.index:
        total = overall.loc[actual].sum()
        for predicted in overall.columns:
            count = overall.loc[actual, predicted]
            if actual != predicted and count >= _MIN_CELL:
                found.append((count / total, actual, predicted, int(count), int(total)))
    found.sort(reverse=True)
    lines = []
    for share, actual, predicted, count, total in found[:limit]:
        shares = {
            lang: m.loc[actual, predicted] / m.loc[actual].sum()
            for lang, m in per_lang.items()
            if m.loc[actual].sum() > 0
        }
        worst = max(shares, key=shares.get) if shares else None
        where = f"; worst in {worst} ({shares[worst]:.0%})" if worst else ""
        lines.append(
            f"- `{actual}` is taken for `{predicted}` in {share:.0%} of test `{actual}` comments "
            f"({count} of {total}){where}."
        )
    troll = pd.read_csv(confusion_dir / "troll_all_counts.csv", index_col=0)
    trolls, genuine = troll.loc["troll"].sum(), troll.loc["not troll"].sum()
    if trolls:
        lines.append(
            f"- Missed trolls: {troll.loc['troll', 'not troll']} of {trolls} "
            f"({troll.loc['troll', 'not troll'] / trolls:.0%}) pass as genuine comments."
        )
    if genuine:
        lines.append(
            f"- False troll flags: {troll.loc['not troll', 'troll']} of {genuine} genuine comments "
            f"({troll.loc['not troll', 'troll'] / genuine:.1%})."
        )
    return lines


def pretrained_provenance(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Where a transformer's pretrained weights came from: recorded at training
    (`training.pretrained`) or, for models trained before that, the encoder folder's
    `provenance.json` written by the `encoder` stage."""
    recorded = manifest.get("training", {}).get("pretrained")
    if recorded:
        return recorded
    source = manifest.get("params", {}).get("model_name_or_path")
    path = Path(source) / "provenance.json" if source else None
    if path is not None and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def _pretrained_section(manifest: dict[str, Any]) -> list[str]:
    provenance = pretrained_provenance(manifest)
    if not provenance:
        return []
    return [
        "",
        "## Pretrained weights",
        "",
        f"Fine-tuned from {provenance.get('weights')} "
        f"(licence: {provenance.get('licence', 'see the source')}), "
        f"taken from {provenance.get('source')}. Precision: {provenance.get('precision')}. "
        "See docs/encoder.md for the conversion and its check against the package's engine.",
    ]


def render_card(
    manifest: dict[str, Any],
    identity: dict[str, Any],
    test: dict[str, Any] | None = None,
    confusion_dir: Path | None = None,
    benchmark: tuple[list[tuple[str, dict]], int] = ([], 0),
) -> str:
    """The card as Markdown; sections whose figures are not known yet say so."""
    name, version = manifest.get("name", "triage"), manifest.get("version", "unversioned")
    data = manifest.get("data", {})
    counts = data.get("counts", {})
    out = [
        f"# Model card: {name} version {version}",
        "",
        f"Kind `{manifest.get('kind')}` (config `{manifest.get('config')}`), trained "
        f"{manifest.get('created')}; artifact sha256 `{identity['sha256'][:16]}`; MLflow run "
        f"`{identity.get('mlflow_run_id') or 'not tracked'}`; training data sha256 "
        f"`{str(data.get('sha256', 'unknown'))[:16]}`. Card written "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "## Intended use",
        "",
        "Sorting public customer comments (social networks, reviews, app stores, forums) in Russian, "
        "Ukrainian, Bulgarian and English by what the customer complains about, flagging likely trolls, "
        "and drafting a reply for a support agent. It is a triage aid: a person reads the comment "
        "before anything is published or anyone is blocked.",
        "",
        "Out of scope:",
        "- other languages (they are answered `other` and sent to human review, not classified);",
        "- automatic moderation, bans or replies without a person in the loop;",
        "- decisions about individuals (credit, employment, legal complaints), private messages, "
        "or anything where a wrong label harms the author;",
        "- long documents (over 5,000 characters are rejected) and non-customer text (news, contracts).",
        "",
        "## Labels",
        "",
        "| label | means | example (training data) |",
        "|---|---|---|",
    ]
    examples = data.get("examples", {})
    for label in [*CAUSES, "troll"]:
        meaning = TROLL_MEANING if label == "troll" else CAUSE_MEANINGS[label]
        example = examples.get(label)
        shown = f"[{example['lang']}] {example['text']}".replace("|", "\\|") if example else "—"
        out.append(f"| `{label}`{' = true' if label == 'troll' else ''} | {meaning} | {shown} |")
    out += _pretrained_section(manifest)
    out += ["", "## Training data", ""]
    if counts and test and "all" in test:
        counts = {**counts, "test": _test_counts(test)}
    if counts:
        splits = list(counts)
        out += [
            "Hand-written corpus (`data/raw`, see data/README.md), split by `prepare`:",
            "",
            "| | " + " | ".join(splits) + " |",
            "|---|" + "---|" * len(splits),
            "| rows | " + " | ".join(str(counts[s]["rows"]) for s in splits) + " |",
            "| trolls | " + " | ".join(str(counts[s]["trolls"]) for s in splits) + " |",
        ]
        for key in ("by_lang", "by_cause"):
            for label in counts[splits[0]][key]:
                out.append(f"| {label} | " + " | ".join(str(counts[s][key][label]) for s in splits) + " |")
    else:
        out.append(f"train rows {data.get('train_rows', '?')}, valid rows {data.get('valid_rows', '?')}.")
    out += ["", "## Metrics", "", "### Test split (held-out comments of the corpus)", ""]
    if test:
        out += _metrics_table([(s, test[s]) for s in SCOPES if s in test])
        out += ["", f"Troll threshold {test.get('troll_threshold')} (best F1 on the valid split)."]
    else:
        out.append("Not evaluated yet: `evaluate` (the next pipeline stage) completes this card.")
    valid = manifest.get("valid_metrics", {})
    if valid:
        out += ["", "Valid split: " + ", ".join(f"{k} {_f(v)}" for k, v in valid.items()) + "."]
    out += ["", "### Real-comment benchmark (`../shared/benchmark`, evaluation only)", ""]
    mine, others = benchmark
    if mine:
        out += _metrics_table([(n, r["all"]) for n, r in mine if "all" in r])
        files = sorted({Path(f["path"]).name for _, r in mine for f in r.get("data", {}).get("files", [])})
        out += [
            "",
            f"Measured for this model version (same artifact digest) on {', '.join(files)} "
            f"(`reports/benchmark/{{{','.join(n for n, _ in mine)}}}/metrics.json`).",
        ]
    else:
        stale = f" ({others} result(s) of other model versions are present and not shown)" if others else ""
        out.append(
            f"**Not measured for this version**{stale}. Run `make benchmark-real` to measure it; the "
            "card is then rewritten with the figures."
        )
    out += ["", "## Known failure modes", ""]
    if test and confusion_dir and (confusion_dir / "cause_all_counts.csv").exists():
        out += ["From the test confusion matrices (`reports/confusion/`):", ""]
        out += failure_modes(confusion_dir)
    else:
        out.append("Not known yet: the test confusion matrices come from `evaluate`.")
    out += [
        "",
        "Limits that the test split does not show: the corpus is written, not collected, so real "
        "comments score lower (see the benchmark above); sarcasm and insults phrased as complaints "
        "are often missed as trolls; a complaint without a telling word tends to fall to `none`.",
        "",
        "## Hyper-parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        f"| troll_threshold | {manifest.get('troll_threshold')} |",
    ]
    out += [f"| {k} | {v} |" for k, v in manifest.get("params", {}).items()]
    out += [f"| langid.{k} | {v} |" for k, v in manifest.get("langid", {}).items()]
    out += ["", "## Library versions", ""]
    out += [f"- {k} {v}" for k, v in manifest.get("libraries", {}).items()]
    return "\n".join(out) + "\n"


def write_card(
    path: Path,
    model_dir: Path,
    test: dict[str, Any] | None = None,
    confusion_dir: Path | None = None,
    bench_dir: Path | None = None,
) -> Path:
    """Render the card of the model in `model_dir` to `path`."""
    manifest = json.loads((model_dir / MANIFEST).read_text())
    identity = model_identity(model_dir)
    benchmark = benchmark_results(bench_dir, identity["sha256"]) if bench_dir else ([], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_card(manifest, identity, test, confusion_dir, benchmark), encoding="utf-8")
    return path
