"""The cascade's trade-off: share of comments sent to the encoder vs quality vs speed.

The default model is a blend whose TF-IDF member answers alone where it is confident
(`triage.models.blend`); training chose the bounds on valid. Here every point of the training
grid is measured on valid, test and the real comments of ../shared/benchmark (evaluation only),
beside the two members alone and the full blend. Each member scores every text once; a
point's outputs are then combined exactly as `BlendClassifier.predict_proba` does. Speed: the
members' costs per comment are measured on test texts (batched), a point's comments/s is
computed from them and its share sent to the encoder; the chosen point and the full blend are
also timed end to end through `TriageModel.score` (language id included) as a check.

    python benchmarks/cascade.py [--model artifacts/model] [--out reports/cascade.json]
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
from triage.train.metrics import f1_by_language

TIMED = 3000


def read(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})


def seconds_per_comment(score, texts: list[str]) -> float:
    score(texts[:100])  # warm up
    started = time.perf_counter()
    score(texts)
    return (time.perf_counter() - started) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--out", default="reports/cascade.json")
    args = parser.parse_args()
    model = load_model(Path(args.model))
    blend = model.classifier
    if model.kind != "blend":
        raise SystemExit(f"{args.model} is a {model.kind} model, not a blend")
    fast_index = (blend.cascade or {}).get("fast_member", 1)
    slow_index = 1 - fast_index
    frames = {name: read(Path("data/processed") / f"{name}.jsonl") for name in ("valid", "test")}
    real_files = sorted(Path(args.benchmark).glob("real_*.jsonl"))
    frames["real"] = pd.concat([read(p) for p in real_files], ignore_index=True)
    outputs = {n: [m.predict_proba(f.text.tolist()) for m in blend.members] for n, f in frames.items()}
    threshold = model.troll_threshold

    def measure(name: str, rule: dict | None, only: int | None = None) -> dict:
        row: dict = {"point": name, **({k: v for k, v in rule.items() if k != "fast_member"} if rule else {})}
        for split, frame in frames.items():
            members = outputs[split]
            if only is not None:
                cause, troll, sure = *members[only], np.full(len(frame), only == fast_index)
            else:
                full_cause, full_troll = blend.combine(members)
                sure = blend.confident(*members[fast_index], rule) if rule else np.zeros(len(frame), bool)
                cause = np.where(sure[:, None], members[fast_index][0], full_cause)
                troll = np.where(sure, members[fast_index][1], full_troll)
            scores = f1_by_language(frame, np.asarray(CAUSES)[cause.argmax(1)], troll >= threshold)
            row[split] = {
                "encoder_share": round(1 - float(sure.mean()), 4),
                "cause_macro_f1": scores["all"]["cause_macro_f1"],
                "troll_f1": scores["all"]["troll_f1"],
                **({"per_language": scores} if split == "real" or name == "chosen" else {}),
            }
        return row

    points = [measure("tfidf_alone", None, fast_index), measure("encoder_alone", None, slow_index)]
    points.append(measure("full_blend", None))
    grid = blend.training_info.get("cascade_valid_curve") or model.metadata.get("training", {}).get(
        "cascade_valid_curve", []
    )
    for point in grid:
        if "min_cause_proba" in point:
            rule = {k: point[k] for k in ("fast_member", "min_cause_proba", "min_troll_margin")}
            points.append(measure("chosen" if rule == blend.cascade else "grid", rule))

    texts = (frames["test"].text.tolist() * 3)[:TIMED]
    fast_cost = seconds_per_comment(blend.members[fast_index].predict_proba, texts)
    slow_cost = seconds_per_comment(blend.members[slow_index].predict_proba, texts)
    for row in points:
        share = row["test"]["encoder_share"]
        cost = (fast_cost if row["point"] != "encoder_alone" else 0) + share * slow_cost
        if row["point"] == "full_blend":
            cost = fast_cost + slow_cost
        row["test"]["comments_per_s_estimated"] = round(1 / cost, 1)
    chosen_rule = blend.cascade
    end_to_end = {"chosen": round(1 / seconds_per_comment(model.score, texts), 1)}
    blend.cascade = None
    end_to_end["full_blend"] = round(1 / seconds_per_comment(model.score, texts), 1)
    blend.cascade = chosen_rule
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "model": f"{model.name} version {model.version} ({model.kind})",
        "troll_threshold": round(threshold, 4),
        "chosen_on_valid": chosen_rule,
        "seconds_per_comment": {"tfidf": round(fast_cost, 6), "encoder": round(slow_cost, 6)},
        "timed_end_to_end_comments_per_s": end_to_end,
        "points": points,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for row in points:
        if row["point"] != "grid":
            print(
                row["point"],
                {s: (row[s]["encoder_share"], row[s]["cause_macro_f1"], row[s]["troll_f1"]) for s in frames},
            )
    print("end to end comments/s:", end_to_end, "member s/comment:", report["seconds_per_comment"])


if __name__ == "__main__":
    main()
