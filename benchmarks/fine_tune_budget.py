"""How much of multilingual-e5-small must be fine-tuned? Frozen lower layers vs time, on valid.

`make run` has to fit in about 15 minutes on 2 cores, and a full fine-tune (12 layers, 3
epochs) takes far longer there. With the lowest `k` layers frozen, their output is computed
once and only the upper layers train (`triage.train.layer_cache`). Each candidate below is
trained from `configs/e5-small.yaml` with its overrides; the figures are the Trainer's best
valid cause macro-F1 and the calibrated valid troll F1 at the valid-tuned threshold, and the
wall time of fitting. Choose on valid only; test and real comments are the pipeline's to
measure for the chosen one.

    python benchmarks/fine_tune_budget.py [--only NAME ...] [--out reports/fine_tune_budget.json]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from triage.models.labels import CAUSES
from triage.train.fit import ModelConfig, best_f1_threshold, read_split
from triage.train.kinds import build_trainer

CANDIDATES: dict[str, dict] = {
    "frozen8_lr1e-4": {"freeze_layers": 8, "learning_rate": 1e-4},
    "frozen6_lr5e-5": {"freeze_layers": 6, "learning_rate": 5e-5},
    "frozen6_lr1e-4": {"freeze_layers": 6, "learning_rate": 1e-4},
    "frozen4_lr5e-5_2ep": {"freeze_layers": 4, "learning_rate": 5e-5, "num_train_epochs": 2},
}


def run(name: str, overrides: dict, train: pd.DataFrame, valid: pd.DataFrame, config_path: Path) -> dict:
    config = ModelConfig.read(config_path)
    config.params.update(overrides, onnx=False)
    started = time.perf_counter()
    classifier = build_trainer(config.kind, config.params, config.path).fit(
        *(train[c].tolist() for c in ("text", "cause", "troll")),
        *(valid[c].tolist() for c in ("text", "cause", "troll")),
    )
    seconds = time.perf_counter() - started
    cause, troll = classifier.predict_proba(valid.text.tolist())
    labels = valid.troll.to_numpy(int)
    threshold = best_f1_threshold(labels, troll)
    return {
        "overrides": overrides,
        "valid_cause_macro_f1": round(
            float(f1_score(valid.cause, np.asarray(CAUSES)[cause.argmax(1)], average="macro")), 4
        ),
        "valid_troll_f1": round(float(f1_score(labels, troll >= threshold)), 4),
        "fit_seconds": round(seconds, 1),
        "training": classifier.training_info,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/e5-small.yaml", type=Path)
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES))
    parser.add_argument("--out", default="reports/fine_tune_budget.json", type=Path)
    args = parser.parse_args()
    train, valid = (read_split(Path("data/processed") / f"{s}.jsonl") for s in ("train", "valid"))
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"candidates": {}}
    report["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    for name in args.only or CANDIDATES:
        report["candidates"][name] = run(name, CANDIDATES[name], train, valid, args.config)
        print(name, json.dumps(report["candidates"][name]), flush=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
