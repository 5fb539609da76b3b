"""The int8 gate on the trained default: does dynamic int8 ONNX keep fp32's decisions?

Copies the artifact (`--model`) to a scratch folder, quantises its encoder the way the `train`
stage does with `quantize: true` (`try_int8`), and measures both on the same comments: the
share of valid comments where cause and troll decisions agree with fp32, cause macro-F1 /
troll F1 on the real comments of ../shared/benchmark (evaluation only) and batch throughput of
the classifier. For a blend, the encoder is its transformer member and the decisions compared
are the blend's (with its cascade): what users get. The gate: agreement of the model's
decisions (at its troll threshold) >= `--min-agreement` and real-comment cause macro-F1 within
0.01 of fp32's.

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
        members = getattr(fp32, "members", [fp32])  # a blend quantises its encoder member
        encoder = next(m for m in members if m.kind == "transformer")
        threshold = model.troll_threshold
        fp32_valid, fp32_real = (
            fp32.predict_proba(valid.text.tolist()),
            fp32.predict_proba(real.text.tolist()),
        )
        fp32_speed = throughput(fp32, valid.text.tolist())
        onnx = encoder._folder / "model.onnx"
        fp32_size = onnx.stat().st_size
        gate = try_int8(encoder, valid.text.tolist(), 0.0)  # keep it here to measure it; verdict below
        int8_valid, int8_real = (
            fp32.predict_proba(valid.text.tolist()),
            fp32.predict_proba(real.text.tolist()),
        )
        agreement = decision_agreement(fp32_valid, int8_valid, threshold)
        real_quality = {
            name: quality(real, probs, threshold)
            for name, probs in (("fp32", fp32_real), ("int8", int8_real))
        }
        f1_drop = real_quality["fp32"]["cause_macro_f1"] - real_quality["int8"]["cause_macro_f1"]
        report = {
            "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"),
            "model": args.model,
            "kind": model.kind,
            "encoder_valid_decision_agreement_at_0.5": gate["valid_decision_agreement"],
            "valid_decision_agreement_at_model_threshold": round(agreement, 4),
            "min_agreement": args.min_agreement,
            "real_cause_macro_f1_drop": round(f1_drop, 4),
            "int8_passes_the_gate": agreement >= args.min_agreement and f1_drop <= 0.01,
            "onnx_mb": {"fp32": round(fp32_size / 2**20, 1), "int8": round(onnx.stat().st_size / 2**20, 1)},
            "real_comments": real_quality,
            "classifier_comments_per_s_valid": {
                "fp32": fp32_speed,
                "int8": throughput(fp32, valid.text.tolist()),
            },
        }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
