"""Which way of using the encoder should be the default? Three candidates, chosen on valid.

1. `fine_tuned`: the pipeline's fine-tuned multilingual-e5-small (`--model`).
2. `blend`: its calibrated probabilities averaged with the TF-IDF model's (fitted here on the
   same train split); the weight and the troll threshold are chosen on valid.
3. `frozen`: the converted encoder left as pretrained (`--encoder`), mean-pooled `query: `
   embeddings, and two class-balanced logistic heads (C and the troll threshold on valid).

Every choice is made on the valid split; test and the real comments of ../shared/benchmark
are only measured (evaluation only, never tuned on).

    python benchmarks/encoder_variants.py [--model artifacts/model] [--encoder artifacts/encoder]
Writes reports/encoder_variants.json.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from triage.models.artifact import load_model
from triage.models.labels import CAUSES
from triage.train.encoder_check import mean_pooled
from triage.train.fit import ModelConfig, best_f1_threshold, fit_model
from triage.train.metrics import f1_by_language

PROCESSED = Path("data/processed")
WEIGHTS = np.round(np.linspace(0, 1, 11), 2)
C_GRID = (0.3, 1.0, 3.0, 10.0)


def read(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})


def scores(frame: pd.DataFrame, cause: np.ndarray, troll: np.ndarray) -> dict:
    return f1_by_language(frame, np.asarray(CAUSES)[cause.argmax(1)], troll)


def valid_macro(frame: pd.DataFrame, cause: np.ndarray) -> float:
    return float(f1_score(frame.cause, np.asarray(CAUSES)[cause.argmax(1)], average="macro"))


def embed(folder: Path, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """e5's own recipe (`query: ` prefix, mean pooling, L2 norm), batched by length."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()
    order = np.argsort([len(t) for t in texts])
    vectors = mean_pooled(model, tokenizer, ["query: " + texts[i] for i in order], batch_size, max_length=128)
    out = np.zeros_like(vectors)
    out[order] = vectors
    return out


def frozen_heads(vectors: dict[str, np.ndarray], frames: dict[str, pd.DataFrame]) -> tuple[dict, dict]:
    """Logistic heads on frozen embeddings; C by valid cause macro-F1 / troll F1."""
    best = None
    for c in C_GRID:
        head = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        head.fit(vectors["train"], frames["train"].cause)
        proba = _ordered(head, vectors["valid"])
        score = valid_macro(frames["valid"], proba)
        if best is None or score > best[0]:
            best = (score, c, head)
    cause_head = best[2]
    best_troll = None
    for c in C_GRID:
        head = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        head.fit(vectors["train"], frames["train"].troll)
        valid_scores = head.predict_proba(vectors["valid"])[:, 1]
        threshold = best_f1_threshold(frames["valid"].troll.to_numpy(int), valid_scores)
        score = f1_score(frames["valid"].troll, valid_scores >= threshold)
        if best_troll is None or score > best_troll[0]:
            best_troll = (score, c, head, threshold)
    troll_head, threshold = best_troll[2], best_troll[3]
    probs = {
        name: (_ordered(cause_head, vectors[name]), troll_head.predict_proba(vectors[name])[:, 1])
        for name in vectors
    }
    return probs, {"cause_c": best[1], "troll_c": best_troll[1], "troll_threshold": round(threshold, 4)}


def _ordered(head: LogisticRegression, x: np.ndarray) -> np.ndarray:
    proba = head.predict_proba(x)
    out = np.zeros((len(x), len(CAUSES)))
    for j, label in enumerate(head.classes_):
        out[:, CAUSES.index(label)] = proba[:, j]
    return out


def _tuned_threshold(frame: pd.DataFrame, troll: np.ndarray) -> float:
    return best_f1_threshold(frame.troll.to_numpy(int), troll)


def from_blend(model, frames: dict[str, pd.DataFrame], evaluated: tuple[str, ...]) -> dict[str, dict]:
    """The pipeline's blend and each of its members alone (a member's troll threshold tuned on
    valid, as the blend's was)."""
    results: dict[str, dict] = {}
    members = dict(zip(model.classifier.member_kinds, model.classifier.members, strict=True))
    for name, member in (("fine_tuned", members["transformer"]), ("tfidf", members["tfidf_linear"])):
        probs = {n: member.predict_proba(frames[n].text.tolist()) for n in evaluated}
        threshold = _tuned_threshold(frames["valid"], probs["valid"][1])
        results[name] = {
            "settings": {"troll_threshold": round(threshold, 4)},
            **{n: scores(frames[n], p[0], p[1] >= threshold) for n, p in probs.items()},
        }
    blend = model.classifier
    probs = {n: blend.predict_proba(frames[n].text.tolist()) for n in evaluated}
    results["blend"] = {
        "settings": {
            "cause_weights": blend.cause_weights,
            "troll_weights": blend.troll_weights,
            "troll_threshold": round(model.troll_threshold, 4),
            "chosen_on_valid_by": "the blend kind at training (triage.train.blend_fit)",
        },
        **{n: scores(frames[n], p[0], p[1] >= model.troll_threshold) for n, p in probs.items()},
    }
    return results


def blend_by_hand(
    tuned, frames: dict[str, pd.DataFrame], evaluated: tuple[str, ...], fast_config: Path
) -> dict:
    """A fine-tuned transformer model and a TF-IDF model fitted here, averaged with one weight."""
    tuned_probs = {name: tuned.classifier.predict_proba(frames[name].text.tolist()) for name in evaluated}
    fast = fit_model(frames["train"], frames["valid"], ModelConfig.read(fast_config))
    fast_probs = {name: fast.classifier.predict_proba(frames[name].text.tolist()) for name in evaluated}

    results: dict[str, dict] = {}
    results["fine_tuned"] = {
        "settings": {"troll_threshold": round(tuned.troll_threshold, 4)},
        **{n: scores(frames[n], p[0], p[1] >= tuned.troll_threshold) for n, p in tuned_probs.items()},
    }
    results["tfidf"] = {
        "settings": {"troll_threshold": round(fast.troll_threshold, 4)},
        **{n: scores(frames[n], p[0], p[1] >= fast.troll_threshold) for n, p in fast_probs.items()},
    }
    blends = []
    for w in WEIGHTS:
        cause = w * tuned_probs["valid"][0] + (1 - w) * fast_probs["valid"][0]
        troll = w * tuned_probs["valid"][1] + (1 - w) * fast_probs["valid"][1]
        threshold = best_f1_threshold(frames["valid"].troll.to_numpy(int), troll)
        troll_f1 = f1_score(frames["valid"].troll, troll >= threshold)
        blends.append((valid_macro(frames["valid"], cause), troll_f1, float(w), threshold))
    _, _, weight, threshold = max(blends)
    blend_probs = {
        n: (
            weight * tuned_probs[n][0] + (1 - weight) * fast_probs[n][0],
            weight * tuned_probs[n][1] + (1 - weight) * fast_probs[n][1],
        )
        for n in evaluated
    }
    results["blend"] = {
        "settings": {"encoder_weight": weight, "troll_threshold": round(threshold, 4)},
        "valid_curve": [
            {"encoder_weight": w, "cause_macro_f1": round(c, 4), "troll_f1": round(t, 4)}
            for c, t, w, _ in blends
        ],
        **{n: scores(frames[n], p[0], p[1] >= threshold) for n, p in blend_probs.items()},
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--encoder", default="artifacts/encoder")
    parser.add_argument("--fast-config", default="configs/linear.yaml")
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--out", default="reports/encoder_variants.json")
    args = parser.parse_args()
    frames = {name: read(PROCESSED / f"{name}.jsonl") for name in ("train", "valid", "test")}
    real_files = sorted(Path(args.benchmark).glob("real_*.jsonl"))
    frames["real"] = pd.concat([read(p) for p in real_files], ignore_index=True)
    evaluated = ("valid", "test", "real")

    started = time.perf_counter()
    model = load_model(Path(args.model))
    if model.kind == "blend":  # the default: its members are the fine-tuned encoder and TF-IDF
        results = from_blend(model, frames, evaluated)
    elif model.kind == "transformer":
        results = blend_by_hand(model, frames, evaluated, Path(args.fast_config))
    else:
        raise SystemExit(f"{args.model} is a {model.kind} model; train the encoder first (dvc repro)")
    vectors = {name: embed(Path(args.encoder), frames[name].text.tolist()) for name in ("train", *evaluated)}
    frozen_probs, frozen_settings = frozen_heads(vectors, frames)
    results["frozen"] = {
        "settings": frozen_settings,
        **{
            n: scores(frames[n], frozen_probs[n][0], frozen_probs[n][1] >= frozen_settings["troll_threshold"])
            for n in evaluated
        },
    }
    chosen = max(
        results,
        key=lambda k: (results[k]["valid"]["all"]["cause_macro_f1"], results[k]["valid"]["all"]["troll_f1"]),
    )
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "splits": {name: len(frame) for name, frame in frames.items()},
        "real_benchmark_files": [p.name for p in real_files],
        "chosen_by_valid": chosen,
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        print(
            f"{name:11s}",
            {
                split: (result[split]["all"]["cause_macro_f1"], result[split]["all"]["troll_f1"])
                for split in evaluated
            },
        )
    print("chosen by valid:", chosen)


if __name__ == "__main__":
    main()
