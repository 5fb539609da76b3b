"""A static-embedding fast tier for the cascade: model2vec distilled from the fine-tuned encoder.

Why (issue 16): the default blend's cascade lets the TF-IDF member answer alone where it is
confident and sends the rest (about half of test, 71% of real comments) to the encoder, which
costs ~90 times as much per comment. A model2vec model is the fine-tuned encoder's output for
every token of its vocabulary, computed once (`model2vec.distill`), so a comment's vector is a
mean of looked-up rows: TF-IDF speed, but some of the encoder's multilingual knowledge. If its
heads are more often confident *and* right than the TF-IDF member, fewer comments need the
encoder, or the same share gives better answers.

How: the encoder member's checkpoint (and, for comparison, the pretrained one) is distilled
into static token vectors (mean pooling as the member, 256 PCA dimensions and SIF weights, the
library's defaults), cached in `--cache`. Its texts are not given the member's "query: "
prefix: a static model's vector for a fixed prefix is the same for every comment, so it adds
no information. Two class-balanced logistic-regression heads (cause, troll) are fitted on the
train split's vectors; C is chosen on valid (cause: macro-F1; troll: F1 at its best
threshold) and both heads are temperature-calibrated on valid with the project's own helper,
as the TF-IDF kind is. Fast tiers compared: the TF-IDF member (the shipped cascade), the static
model, and the mean of the two. For each, the cascade is run over training's grid of bounds
exactly as `benchmarks/cascade.py` does (comments where the fast tier is confident keep its
answer, the rest get the shipped full blend's), and the point is chosen on valid by training's
rule (`triage.train.blend_fit`, `cascade: tune`: fewest comments to the encoder with both valid
F1s within 0.01 of the full blend's). Real comments (../shared/benchmark) are evaluation only.
Speed: each part's cost per comment is measured batched on 3,000 test texts as in
`cascade.py`; a point's comments/s is computed from them and its share of test sent on.

    python benchmarks/static_tier.py [--model artifacts/model] [--base-encoder artifacts/encoder]
        [--cache artifacts/static_tier] [--out reports/static_tier.json]

Needs `pip install -e ".[bench]"` (model2vec and skeletoken, which its `distill` imports).
"""

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cascade import TIMED, read, seconds_per_comment
from sklearn.linear_model import LogisticRegression
from triage.models.artifact import load_model
from triage.models.calibration import calibrate
from triage.models.labels import CAUSES
from triage.train.blend_fit import BlendConfig, best_troll_f1, cause_macro_f1
from triage.train.metrics import f1_by_language

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
PCA_DIMS = 256
Proba = tuple[np.ndarray, np.ndarray]


def distilled(encoder: Path, tokenizer: Path, cache: Path, threads: int | None) -> tuple[Any, float | None]:
    """The static model distilled from `encoder` + `tokenizer` (HF folders), cached in `cache`;
    also the seconds distillation took (None: read from an earlier run's cache)."""
    from model2vec import StaticModel

    if (cache / "config.json").exists():
        info = json.loads((cache / "distill_info.json").read_text())
        return StaticModel.from_pretrained(cache), info.get("seconds")
    import torch
    from model2vec.distill import distill

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        # AutoModel and AutoTokenizer read one folder; the artifact keeps them apart.
        for source in (encoder / "config.json", encoder / "model.safetensors"):
            os.symlink(source.resolve(), Path(folder) / source.name)
        for source in (tokenizer / "tokenizer.json", tokenizer / "tokenizer_config.json"):
            os.symlink(source.resolve(), Path(folder) / source.name)
        started = time.perf_counter()
        model = distill(folder, pca_dims=PCA_DIMS, device="cpu")
        seconds = round(time.perf_counter() - started, 1)
    model.save_pretrained(cache)
    (cache / "distill_info.json").write_text(
        json.dumps({"encoder": str(encoder), "tokenizer": str(tokenizer), "seconds": seconds}) + "\n"
    )
    return model, seconds


class StaticTier:
    """Static vectors → two calibrated logistic-regression heads, fitted on train, tuned on valid."""

    def __init__(self, model: Any):
        self.model = model
        self.heads: dict[str, Any] = {}
        self.tuning: dict[str, Any] = {}

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), use_multiprocessing=False)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> "StaticTier":
        x_train, x_valid = self.vectors(train.text), self.vectors(valid.text)
        targets = {
            "cause": (train.cause.map(CAUSES.index).to_numpy(), valid.cause.map(CAUSES.index).to_numpy()),
            "troll": (train.troll.to_numpy(int), valid.troll.to_numpy(int)),
        }
        for head, (y_train, y_valid) in targets.items():
            curve, fitted = {}, {}
            for c in C_GRID:
                fitted[c] = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(
                    x_train, y_train
                )
                proba = fitted[c].predict_proba(x_valid)
                if head == "cause":
                    curve[c] = cause_macro_f1(valid.cause.to_numpy(), proba)
                else:
                    curve[c] = best_troll_f1(y_valid, proba[:, 1])
            best = max(C_GRID, key=lambda c: (curve[c], -c))  # ties: the stronger regularisation
            self.heads[head] = calibrate(fitted[best], x_valid, y_valid, "temperature")
            self.tuning[head] = {"c": best, "valid_f1_by_c": {str(c): round(s, 4) for c, s in curve.items()}}
        return self

    def predict_proba(self, texts: Sequence[str]) -> Proba:
        vectors = self.vectors(texts)
        return self.heads["cause"].predict_proba(vectors), self.heads["troll"].predict_proba(vectors)[:, 1]


def mean_of(*outputs: Proba) -> Proba:
    return sum(o[0] for o in outputs) / len(outputs), sum(o[1] for o in outputs) / len(outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--base-encoder", default="artifacts/encoder", help="'' to skip the pretrained one")
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--cache", default="artifacts/static_tier")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for distillation")
    parser.add_argument("--out", default="reports/static_tier.json")
    args = parser.parse_args()
    model = load_model(Path(args.model))
    blend = model.classifier
    if model.kind != "blend" or blend.member_kinds != ["transformer", "tfidf_linear"]:
        raise SystemExit(f"{args.model} is not the default blend (transformer + TF-IDF)")
    encoder_member, tfidf_member = blend.members
    member_folder = Path(args.model) / "member-0-transformer"
    sources = {"static": (member_folder / "encoder", member_folder / "tokenizer")}
    if args.base_encoder:
        sources["static_base"] = (Path(args.base_encoder), Path(args.base_encoder))

    frames = {name: read(Path(args.data) / f"{name}.jsonl") for name in ("train", "valid", "test")}
    real_files = sorted(Path(args.benchmark).glob("real_*.jsonl"))
    frames["real"] = pd.concat([read(p) for p in real_files], ignore_index=True)
    splits = ("valid", "test", "real")

    tiers: dict[str, StaticTier] = {}
    distill_seconds: dict[str, float | None] = {}
    for name, (encoder, tokenizer) in sources.items():
        static, distill_seconds[name] = distilled(encoder, tokenizer, Path(args.cache) / name, args.threads)
        tiers[name] = StaticTier(static).fit(frames["train"], frames["valid"])
        print(name, "C chosen on valid:", {h: t["c"] for h, t in tiers[name].tuning.items()})

    # Every part scores every text once; tiers and cascades are combined from these outputs.
    parts: dict[str, Callable[[Sequence[str]], Proba]] = {
        "encoder": encoder_member.predict_proba,
        "tfidf": tfidf_member.predict_proba,
        **{name: tier.predict_proba for name, tier in tiers.items()},
    }
    outputs = {s: {p: score(frames[s].text.tolist()) for p, score in parts.items()} for s in splits}
    # A tier's probabilities are the mean of its parts'; "encoder" is the encoder member alone.
    combos: dict[str, tuple[str, ...]] = {"encoder": ("encoder",), "tfidf": ("tfidf",)}
    for name in tiers:
        combos[name] = (name,)
        combos[f"tfidf+{name}"] = ("tfidf", name)
    fast_tiers = [name for name in combos if name != "encoder"]

    def full_blend(split: str) -> Proba:
        return blend.combine([outputs[split]["encoder"], outputs[split]["tfidf"]])

    def answers(split: str, tier: str | None, rule: dict | None) -> tuple[Proba, np.ndarray]:
        """(cause, troll) and where no encoder ran: the full blend (tier None), a tier alone
        (rule None) or the cascade with that tier as the fast one."""
        size = len(frames[split])
        if tier is None:
            return full_blend(split), np.zeros(size, bool)
        fast = mean_of(*(outputs[split][p] for p in combos[tier]))
        if rule is None:
            return fast, np.full(size, tier != "encoder")
        sure = blend.confident(*fast, rule)
        cause, troll = full_blend(split)
        return (np.where(sure[:, None], fast[0], cause), np.where(sure, fast[1], troll)), sure

    threshold = model.troll_threshold

    def measure(point: str, tier: str | None, rule: dict | None = None, detail: bool = False) -> dict:
        """As `cascade.py`: F1s at the blend's troll threshold, overall (and per language)."""
        row: dict[str, Any] = {"point": point, "fast_tier": tier}
        row |= rule or {}
        for split in splits:
            (cause, troll), sure = answers(split, tier, rule)
            scores = f1_by_language(frames[split], np.asarray(CAUSES)[cause.argmax(1)], troll >= threshold)
            row[split] = {
                "encoder_share": round(1 - float(sure.mean()), 4),
                "cause_macro_f1": scores["all"]["cause_macro_f1"],
                "troll_f1": scores["all"]["troll_f1"],
                **({"per_language": scores} if detail else {}),
            }
        return row

    # Training's rule (blend_fit `cascade: tune`), with its own F1s on valid (troll F1 at the
    # best threshold), against the full blend's.
    config = BlendConfig(members=[])
    truth_cause, truth_troll = frames["valid"].cause.to_numpy(), frames["valid"].troll.to_numpy(int)

    def tuning_f1s(cause: np.ndarray, troll: np.ndarray) -> tuple[float, float]:
        return cause_macro_f1(truth_cause, cause), best_troll_f1(truth_troll, troll)

    reference = tuning_f1s(*full_blend("valid"))
    chosen: dict[str, dict | None] = {}
    grid_rows: list[dict] = []
    for tier in fast_tiers:
        best = None
        for min_cause in config.cascade_grid["min_cause_proba"]:
            for margin in config.cascade_grid["min_troll_margin"]:
                rule = {"min_cause_proba": min_cause, "min_troll_margin": margin}
                (cause, troll), sure = answers("valid", tier, rule)
                scores = tuning_f1s(cause, troll)
                within = all(
                    r - v <= config.cascade_max_valid_loss for r, v in zip(reference, scores, strict=True)
                )
                key = (round(1 - float(sure.mean()), 4), -sum(scores))
                if within and (best is None or key < best[0]):
                    best = (key, rule)
                grid_rows.append(measure("grid", tier, rule))
                grid_rows[-1]["valid_tuning_f1s"] = [round(s, 4) for s in scores]
        chosen[tier] = best[1] if best else None

    costs = {
        p: seconds_per_comment(score, (frames["test"].text.tolist() * 3)[:TIMED])
        for p, score in parts.items()
    }

    def comments_per_s(tier: str | None, share: float) -> float:
        if tier is None:
            return round(1 / (costs["encoder"] + costs["tfidf"]), 1)
        if tier == "encoder":
            return round(1 / costs["encoder"], 1)
        fast = sum(costs[p] for p in combos[tier])
        # Routed comments need the encoder, and the TF-IDF member unless the tier already ran it.
        routed = costs["encoder"] + (0 if "tfidf" in combos[tier] else costs["tfidf"])
        return round(1 / (fast + share * routed), 1)

    points = [measure("full_blend", None, detail=True), measure("encoder_alone", "encoder", detail=True)]
    for tier in fast_tiers:
        points.append(measure(f"{tier}_alone", tier, detail=True))
        if chosen[tier]:
            points.append(measure(f"{tier}_cascade_chosen", tier, chosen[tier], detail=True))
    for row in [*points, *grid_rows]:
        row["test"]["comments_per_s_estimated"] = comments_per_s(
            row["fast_tier"], row["test"]["encoder_share"]
        )

    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "model": f"{model.name} version {model.version} ({model.kind})",
        "troll_threshold": round(threshold, 4),
        "shipped_cascade": blend.cascade,
        "static_models": {
            name: {
                "distilled_from": [str(p) for p in sources[name]],
                "distill_seconds": distill_seconds[name],
                "vocabulary": int(tiers[name].model.embedding.shape[0]),
                "dimensions": int(tiers[name].model.dim),
                "heads": tiers[name].tuning,
            }
            for name in tiers
        },
        "seconds_per_comment": {p: round(c, 6) for p, c in costs.items()},
        "chosen_on_valid": chosen,
        "valid_tuning_reference_f1s": [round(r, 4) for r in reference],
        "points": points,
        "grid": grid_rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print("s/comment:", report["seconds_per_comment"])
    print(f"{'point':34} {'valid':>21} {'test':>21} {'real':>21} {'c/s':>8}")
    for row in points:
        cells = [
            f"{row[s]['encoder_share']:.2f}: {row[s]['cause_macro_f1']:.3f}/{row[s]['troll_f1']:.3f}"
            for s in splits
        ]
        bounds = f" {row['min_cause_proba']}/{row['min_troll_margin']}" if "min_cause_proba" in row else ""
        print(
            f"{row['point'] + bounds:34} {cells[0]:>21} {cells[1]:>21} {cells[2]:>21} "
            f"{row['test']['comments_per_s_estimated']:>8}"
        )


if __name__ == "__main__":
    main()
