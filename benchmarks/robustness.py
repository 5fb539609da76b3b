"""Behavioural pass rates of the pipeline's model (docs/robustness.md).

Runs the CheckList-style suite of `triage.train.behavior` on the test split and records it in
reports/robustness.json under a label, with the commit and model version, so the report keeps
the rates before and after a change of the text normalisation side by side.

    python benchmarks/robustness.py --label before   # on the old code, after `dvc repro`
    python benchmarks/robustness.py --label after    # on the new code, after `dvc repro`
"""

import argparse
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from triage.models.artifact import load_model
from triage.train.behavior import model_predict, run_suite

REPORT = Path("reports/robustness.json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--model", default="artifacts/model")
    args = parser.parse_args()
    model = load_model(Path(args.model))
    test = pd.read_json("data/processed/test.jsonl", lines=True, dtype={"troll": bool})
    results = run_suite(model_predict(model), test)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[args.label] = {
        "commit": commit.strip(),
        "model_version": model.version,
        "date": datetime.now(UTC).date().isoformat(),
        "results": results,
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for name, result in results.items():
        rate, by_lang = result["pass_rate"], result["by_lang"]
        print(f"{name:28s} {result['kind']}  n={result['n']:4d}  pass {rate:.3f}  {by_lang}")


if __name__ == "__main__":
    main()
