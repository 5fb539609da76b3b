"""What does corpus wave 2 (the registers real people write in) buy? Same kind, two trainings.

The model kind of `--config` (default: the TF-IDF model, minutes on 2 cores) is fitted twice on
the pipeline's train split: once on its wave-1 rows only, once on all of it (waves 1 + 2).
Both use the same valid split for calibration and thresholds and are measured on the same test
comments (overall, per wave and per register) and on every real-comment file of
../shared/benchmark (evaluation only). With `--model`, the pipeline's default model is also
measured per register on test.

    python benchmarks/register_transfer.py [--config configs/linear.yaml] [--model artifacts/model]
Writes reports/register_transfer.json.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from triage.models.artifact import load_model
from triage.models.labels import CAUSES
from triage.train.fit import ModelConfig, fit_model
from triage.train.metrics import f1_by_language

PROCESSED = Path("data/processed")


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})
    if "wave" not in frame:
        frame["wave"] = 1
    frame["wave"] = frame["wave"].fillna(1).astype(int)
    if "register" not in frame:
        frame["register"] = None
    frame["register"] = frame["register"].fillna("wave 1 (one register)")
    return frame


def measure(model, frame: pd.DataFrame, by: tuple[str, ...]) -> dict:
    cause, troll = model.classifier.predict_proba(frame.text.tolist())
    causes, trolls = np.asarray(CAUSES)[cause.argmax(1)], troll >= model.troll_threshold
    out = f1_by_language(frame, causes, trolls, ("all",))
    for column in by:
        for value in sorted(frame[column].dropna().unique(), key=str):
            mask = (frame[column] == value).to_numpy()
            out[f"{column}={value}"] = f1_by_language(frame[mask], causes[mask], trolls[mask], ("all",))[
                "all"
            ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/linear.yaml")
    parser.add_argument("--model", default=None, help="also measure this trained model per register")
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--out", default="reports/register_transfer.json")
    args = parser.parse_args()
    train, valid, test = (read(PROCESSED / f"{s}.jsonl") for s in ("train", "valid", "test"))
    real = {p.stem: read(p) for p in sorted(Path(args.benchmark).glob("real_*.jsonl"))}
    config = ModelConfig.read(Path(args.config))
    results = {}
    for name, rows in (("wave1_only", train[train.wave == 1]), ("waves_1_2", train)):
        started = time.perf_counter()
        model = fit_model(rows, valid, config)
        results[name] = {
            "train_rows": len(rows),
            "fit_seconds": round(time.perf_counter() - started, 1),
            "test": measure(model, test, ("lang", "wave", "register")),
            "real": {
                "all": measure(model, pd.concat(real.values(), ignore_index=True), ("lang",)),
                **{stem: measure(model, frame, ())["all"] for stem, frame in real.items()},
            },
        }
    gain = (
        results["waves_1_2"]["real"]["all"]["all"]["cause_macro_f1"]
        - results["wave1_only"]["real"]["all"]["all"]["cause_macro_f1"]
    )
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "config": args.config,
        "valid_rows": len(valid),
        "test_rows": len(test),
        "results": results,
        "real_cause_macro_f1_gain_from_wave2": round(gain, 4),
    }
    if args.model:
        default = load_model(Path(args.model))
        report["default_model_per_register"] = {
            "model": args.model,
            "kind": default.kind,
            "test": measure(default, test, ("lang", "wave", "register")),
        }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        print(name, "test", result["test"]["all"], "real", result["real"]["all"]["all"])
    print("real cause macro-F1 gain from wave 2:", round(gain, 4))


if __name__ == "__main__":
    main()
