"""The int8 gate on the trained default: does dynamic int8 ONNX keep fp32's decisions?

Copies the artifact (`--model`) to a scratch folder, runs the same gate the `train` stage runs
with `quantize: true` (`try_int8`: cause and troll decisions on valid must agree with fp32 on at
least `--min-agreement` of comments), and measures both files on the same comments: agreement,
cause macro-F1 / troll F1 on the real comments of ../shared/benchmark (evaluation only) and
batch throughput of the classifier alone.

    python benchmarks/int8_gate.py [--model artifacts/model]
Writes reports/int8.json.
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from triage.models.artifact import load_model
from triage.models.labels import CAUSES
from triage.train.metrics import f1_by_language
from triage.train.onnx_export import decision_agreement
from triage.train.transformer_fit import try_int8


def read(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})


def quality(frame: pd.DataFrame, probs: tuple, threshold: float) -> dict:
    scores = f1_by_language(frame, np.asarray(CAUSES)[probs[0].argmax(1)], probs[1] >= threshold, ("all",))
    return {k: v for k, v in scores["all"].items() if k != "n"}


def throughput(classifier, texts: list[str]) -> float:
    classifier.predict_proba(texts[:64])
    started = time.perf_counter()
    classifier.predict_proba(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--min-agreement", type=float, default=0.97)
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--out", default="reports/int8.json")
    args = parser.parse_args()
    valid = read(Path("data/processed/valid.jsonl"))
    real = pd.concat([read(p) for p in sorted(Path(args.benchmark).glob("real_*.jsonl"))], ignore_index=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(args.model, folder)
        model = load_model(folder)
        fp32 = model.classifier
        threshold = model.troll_threshold
        fp32_valid, fp32_real = (
            fp32.predict_proba(valid.text.tolist()),
            fp32.predict_proba(real.text.tolist()),
        )
        fp32_speed = throughput(fp32, valid.text.tolist())
        fp32_size = (folder / "model.onnx").stat().st_size
        gate = try_int8(
            fp32, valid.text.tolist(), 0.0
        )  # keep it here to measure it; the gate's verdict below
        int8_valid, int8_real = (
            fp32.predict_proba(valid.text.tolist()),
            fp32.predict_proba(real.text.tolist()),
        )
        report = {
            "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"),
            "model": args.model,
            "valid_decision_agreement": gate["valid_decision_agreement"],
            "valid_decision_agreement_at_model_threshold": round(
                decision_agreement(fp32_valid, int8_valid, threshold), 4
            ),
            "min_agreement": args.min_agreement,
            "int8_passes_the_gate": gate["valid_decision_agreement"] >= args.min_agreement,
            "onnx_mb": {
                "fp32": round(fp32_size / 2**20, 1),
                "int8": round((folder / "model.onnx").stat().st_size / 2**20, 1),
            },
            "real_comments": {
                "fp32": quality(real, fp32_real, threshold),
                "int8": quality(real, int8_real, threshold),
            },
            "classifier_comments_per_s_valid": {
                "fp32": fp32_speed,
                "int8": throughput(fp32, valid.text.tolist()),
            },
        }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
