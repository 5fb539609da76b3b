"""Tiny transformer vs. the baseline: quality per language and CPU throughput (docs/transformer.md,
"Measured"). Aggregate numbers only: no comment text is written.

    triage evaluate --no-track --model DIR --out reports/benchmark/tiny-test          # test split
    triage evaluate --no-track --model DIR --data ../shared/benchmark/real_ru.jsonl \\
        --out reports/benchmark/tiny-ru                                               # and so on
    python benchmarks/transformer.py --transformer DIR --baseline artifacts/model \\
        --reports tiny=reports/benchmark/tiny-test ... --out reports/transformer_tiny.json

Throughput: the test split's texts scored in batches of 64, after one warm-up batch, for the
baseline, the transformer through onnxruntime and through PyTorch; end to end (`score`:
language id + heads) and the classifier alone.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
from triage.models.artifact import load_model

SCOPES = ("all", "ru", "uk", "bg", "en")


def throughput(score, texts: list[str], batch: int = 64) -> float:
    score(texts[:batch])  # warm-up: sessions, lazy imports
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        score(texts[start : start + batch])
    return round(len(texts) / (time.perf_counter() - started), 1)


def both(model, texts: list[str]) -> dict[str, float]:
    """End to end (language id + heads, what the predictor pays) and the classifier alone."""
    return {
        "score": throughput(model.score, texts),
        "classifier": throughput(model.classifier.predict_proba, texts),
    }


def headline(report_dir: Path) -> dict:
    report = json.loads((report_dir / "metrics.json").read_text())
    return {
        scope: {
            "n": report[scope]["cause"]["n"],
            "cause_accuracy": round(report[scope]["cause"]["accuracy"], 3),
            "cause_macro_f1": round(report[scope]["cause"]["macro_f1"], 3),
            "troll_f1": round(report[scope]["troll"]["f1"], 3),
        }
        for scope in SCOPES
        if scope in report
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, default=Path("artifacts/model"))
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.jsonl"))
    parser.add_argument("--reports", nargs="*", default=[], help="name=folder of a `triage evaluate` output")
    parser.add_argument("--out", type=Path, default=Path("reports/transformer_tiny.json"))
    args = parser.parse_args()
    texts = pd.read_json(args.test, lines=True).text.tolist()
    baseline, transformer = load_model(args.baseline), load_model(args.transformer)
    manifest = json.loads((args.transformer / "manifest.json").read_text())
    speed = {"baseline": both(baseline, texts), "transformer_onnx": both(transformer, texts)}
    transformer.classifier.use_backend("torch")
    speed["transformer_torch"] = both(transformer, texts)
    result = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; shared with other jobs while measured",
        "date": time.strftime("%Y-%m-%d"),
        "transformer": {
            "config": manifest.get("config"),
            "params": manifest.get("params"),
            "training": manifest.get("training"),
            "fit_seconds": manifest.get("fit_seconds"),
        },
        "throughput_texts_per_second": speed,
        "metrics": {name: headline(Path(folder)) for name, folder in (r.split("=", 1) for r in args.reports)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
