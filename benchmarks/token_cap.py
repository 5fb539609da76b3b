"""What the encoder's token cap (`max_length`) cuts: token lengths per split, the share of
comments truncated, and how many of the default's decisions the cut changes.

Lengths count the tokens the encoder reads (the `query: ` prefix and special tokens included).
Every truncated comment of valid, test and the real comments (../shared/benchmark, evaluation
only) is scored twice, with the cap and with 512 tokens (the position limit), and the cause and
troll decisions compared.

    python benchmarks/token_cap.py [--model artifacts/model] [--out reports/token_cap.json]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tokenizers import Tokenizer
from triage.models.artifact import load_model

POSITION_LIMIT = 512


def read_texts(path: Path) -> list[str]:
    return pd.read_json(path, lines=True, dtype={"text": str}).text.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("artifacts/model"))
    parser.add_argument("--benchmark", type=Path, default=Path("../shared/benchmark"))
    parser.add_argument("--out", type=Path, default=Path("reports/token_cap.json"))
    args = parser.parse_args()
    model = load_model(args.model)
    members = getattr(model.classifier, "members", [model.classifier])
    encoder = next(m for m in members if m.kind == "transformer")
    prefix, cap = str(encoder.settings.get("prefix", "")), int(encoder.settings["max_length"])
    tokenizer = Tokenizer.from_file(str(encoder._folder / "tokenizer" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    processed = Path("data/processed")
    splits = {name: read_texts(processed / f"{name}.jsonl") for name in ("train", "valid", "test")}
    real = sorted(args.benchmark.glob("real_*.jsonl"))
    if real:
        splits["real comments"] = [t for path in real for t in read_texts(path)]
    report = {
        "measured": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores",
        "model": str(args.model),
        "max_length": cap,
        "splits": {},
    }
    for name, texts in splits.items():
        lengths = np.array([len(e.ids) for e in tokenizer.encode_batch([prefix + t for t in texts])])
        cut = [text for text, length in zip(texts, lengths, strict=True) if length > cap]
        row = {
            "comments": len(texts),
            "mean_tokens": round(float(lengths.mean()), 1),
            **{f"p{q}": int(np.percentile(lengths, q)) for q in (50, 95, 99)},
            "max": int(lengths.max()),
            "truncated": len(cut),
            "truncated_share": round(len(cut) / len(texts), 4),
        }
        if cut and name != "train":
            capped = model.classifier.predict_proba(cut)
            encoder.settings["max_length"] = POSITION_LIMIT
            encoder.use_backend("auto")  # a new runtime reads the setting
            whole = model.classifier.predict_proba(cut)
            encoder.settings["max_length"] = cap
            encoder.use_backend("auto")
            cause_changed = capped[0].argmax(1) != whole[0].argmax(1)
            threshold = model.troll_threshold
            troll_changed = (capped[1] >= threshold) != (whole[1] >= threshold)
            row["decisions_changed_by_the_cap"] = int((cause_changed | troll_changed).sum())
        report["splits"][name] = row
        print(name, json.dumps(row), flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
