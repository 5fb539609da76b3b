"""The default model (the fine-tuned encoder), the TF-IDF model and fastText, measured in one run
(docs/benchmarks.md).

All learn from the same train split and use the valid split the same way: fastText picks its
hyper-parameters there (a grid, cause by macro-F1, troll by F1 at its best threshold), ours
calibrate and pick the troll threshold there. The default model is the pipeline's artifact
(`--model`, trained by `dvc repro`: fitting it again would take most of an hour on 2 cores);
its training time comes from its manifest. The TF-IDF model and fastText are fitted here. Each
runs in its own process, so peak memory is its own. Reported: cause macro-F1 and troll F1 per
language on the test split and on the real comments of ../shared/benchmark (evaluation only),
training time, size on disk, peak memory, batch throughput over 10,000 comments and
single-comment latency in-process.

    python benchmarks/fasttext_compare.py [--model artifacts/model] [--benchmark ../shared/benchmark]
Needs `pip install -e ".[bench]"` (fasttext-numpy2) and data/processed from `dvc repro`.
Writes reports/benchmarks.json.
"""

import argparse
import itertools
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from triage.models.labels import CAUSES
from triage.models.normalize import feature_text
from triage.train.metrics import f1_by_language

PROCESSED = Path("data/processed")
GRID = {
    "lr": (0.2, 0.5, 1.0),
    "epoch": (10, 25, 50),
    "wordNgrams": (1, 2),
    "char": ((0, 0), (2, 5)),
}
FIXED = {
    "dim": 50,
    "bucket": 200_000,
    "minCount": 1,
    "loss": "softmax",
    "thread": 1,
    "seed": 13,
    "verbose": 0,
}
THROUGHPUT_N = 10_000
LATENCY_N = 500


def _best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    from triage.train.fit import best_f1_threshold

    return best_f1_threshold(labels.astype(int), scores)


def _timings(predict_batch, texts: list[str]) -> dict:
    many = (texts * (THROUGHPUT_N // len(texts) + 1))[:THROUGHPUT_N]
    predict_batch(many[:200])  # warm up
    started = time.perf_counter()
    predict_batch(many)
    batch_seconds = time.perf_counter() - started
    latencies = []
    for text in many[:LATENCY_N]:
        started = time.perf_counter()
        predict_batch([text])
        latencies.append(time.perf_counter() - started)
    ms = np.array(latencies) * 1000
    return {
        "batch_comments_per_s": round(THROUGHPUT_N / batch_seconds, 1),
        "single_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "single_p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- fastText ---------------------------------------------------------------------------------


class FastTextPair:
    """Two supervised fastText models (cause, troll) over `feature_text`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir

    @staticmethod
    def _write(path: Path, texts, labels) -> Path:
        with path.open("w", encoding="utf-8") as handle:
            for text, label in zip(texts, labels, strict=True):
                handle.write(f"__label__{label} {feature_text(text)}\n")
        return path

    def _train(self, path: Path, settings: dict):
        import fasttext

        minn, maxn = settings["char"]
        params = {k: v for k, v in settings.items() if k != "char"}
        return fasttext.train_supervised(input=str(path), minn=minn, maxn=maxn, **params, **FIXED)

    @staticmethod
    def _proba(model, texts: list[str], labels: list[str]) -> np.ndarray:
        got_labels, got_probs = model.predict([feature_text(t) for t in texts], k=-1)
        out = np.zeros((len(texts), len(labels)))
        index = {f"__label__{label}": j for j, label in enumerate(labels)}
        for i, (names, probs) in enumerate(zip(got_labels, got_probs, strict=True)):
            for name, p in zip(names, probs, strict=True):
                out[i, index[name]] = p
        return out

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> dict:
        cause_file = self._write(self.workdir / "cause.txt", train.text, train.cause)
        troll_file = self._write(self.workdir / "troll.txt", train.text, train.troll.astype(int))
        settings = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
        best_cause, best_troll = (-1.0, None), (-1.0, None, 0.5)
        diverged = []
        for setting in settings:
            try:
                cause_model = self._train(cause_file, setting)
                troll_model = self._train(troll_file, setting)
            except RuntimeError as exc:  # "Encountered NaN": the learning rate is too high
                diverged.append({**setting, "error": str(exc)})
                continue
            pred = np.array(CAUSES)[self._proba(cause_model, valid.text.tolist(), list(CAUSES)).argmax(1)]
            score = f1_score(valid.cause, pred, average="macro")
            if score > best_cause[0]:
                best_cause = (score, setting)
            troll_scores = self._proba(troll_model, valid.text.tolist(), ["0", "1"])[:, 1]
            threshold = _best_threshold(valid.troll.to_numpy(bool), troll_scores)
            score = f1_score(valid.troll.to_numpy(bool), troll_scores >= threshold)
            if score > best_troll[0]:
                best_troll = (score, setting, threshold)
        started = time.perf_counter()
        self.cause = self._train(cause_file, best_cause[1])
        self.troll = self._train(troll_file, best_troll[1])
        self.fit_seconds = time.perf_counter() - started
        self.threshold = best_troll[2]
        self.cause.save_model(str(self.workdir / "cause.bin"))
        self.troll.save_model(str(self.workdir / "troll.bin"))
        return {
            "grid_size": len(settings),
            "diverged": diverged,
            "cause_settings": best_cause[1],
            "troll_settings": best_troll[1],
            "valid_cause_macro_f1": round(best_cause[0], 4),
            "valid_troll_f1": round(best_troll[0], 4),
        }

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        causes = np.array(CAUSES)[self._proba(self.cause, texts, list(CAUSES)).argmax(1)].tolist()
        trolls = self._proba(self.troll, texts, ["0", "1"])[:, 1] >= self.threshold
        return causes, trolls

    def size_mb(self) -> float:
        return round(sum((self.workdir / f).stat().st_size for f in ("cause.bin", "troll.bin")) / 2**20, 2)


def run_fasttext(data: dict, queue) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = FastTextPair(Path(tmp))
        tuning = model.fit(data["train"], data["valid"])
        result = {"model": "fastText (fasttext-numpy2)", "tuning": tuning}
        result["fit_seconds"] = round(model.fit_seconds, 2)
        result["size_mb"] = model.size_mb()
        result["metrics"] = {
            name: f1_by_language(frame, *model.predict(frame.text.tolist()))
            for name, frame in data["eval"].items()
        }
        result["timings"] = _timings(model.predict, data["test"].text.tolist())
        result["peak_memory_mb"] = _peak_mb()
        queue.put(result)


# --- ours ---------------------------------------------------------------------------------------


def _folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 2)


def run_ours(data: dict, queue, config_path: str | None = None, model_dir: str | None = None) -> None:
    """Fit the kind of `config_path` here, or load the trained artifact in `model_dir`."""
    from triage.models.artifact import load_model, save_model
    from triage.train.fit import ModelConfig, fit_model

    if model_dir is not None:
        model = load_model(Path(model_dir))
        manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
        fit_seconds = manifest.get("fit_seconds") or float("nan")
        name = f"triage {model.kind} ({manifest.get('config', model_dir)}, trained by the pipeline)"
        size = _folder_mb(Path(model_dir))
    else:
        config = ModelConfig.read(Path(config_path))
        started = time.perf_counter()
        model = fit_model(data["train"], data["valid"], config)
        fit_seconds = time.perf_counter() - started
        name = f"triage {config.kind} ({config.path})"
        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, Path(tmp) / "model")
            size = _folder_mb(Path(tmp) / "model")

    def predict(texts):
        scores = model.classifier.predict_proba(texts)
        return [CAUSES[i] for i in scores[0].argmax(1)], scores[1] >= model.troll_threshold

    def predict_with_language(texts):
        scores = model.score(texts)
        return scores.causes, scores.trolls

    result = {
        "model": name,
        "fit_seconds": round(fit_seconds, 2),
        "fit_note": "includes the language identifier and calibration",
        "size_mb": round(size, 2),
        "metrics": {
            name: f1_by_language(frame, *predict(frame.text.tolist())) for name, frame in data["eval"].items()
        },
        "timings": _timings(predict, data["test"].text.tolist()),
        "timings_with_language_id": _timings(predict_with_language, data["test"].text.tolist()),
    }
    result["peak_memory_mb"] = _peak_mb()
    queue.put(result)


def _in_process(target, data: dict, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(data, queue, *args))
    process.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit code {process.exitcode})") from None
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmark", default="../shared/benchmark")
    parser.add_argument("--model", default="artifacts/model", help="the pipeline's trained default model")
    parser.add_argument("--fast-config", default="configs/linear.yaml", help="the fast tier, fitted here")
    parser.add_argument("--out", default="reports/benchmarks.json")
    args = parser.parse_args()
    read = lambda path: pd.read_json(path, lines=True, dtype={"troll": bool, "text": str})  # noqa: E731
    train, valid, test = (read(PROCESSED / f"{s}.jsonl") for s in ("train", "valid", "test"))
    evaluation = {"test": test}
    real = sorted(Path(args.benchmark).glob("real_*.jsonl"))
    if real:
        evaluation["real_benchmark"] = pd.concat([read(p) for p in real], ignore_index=True)
    data = {"train": train, "valid": valid, "test": test, "eval": evaluation}
    results = {
        "default": _in_process(run_ours, data, None, args.model),
        "tfidf": _in_process(run_ours, data, args.fast_config, None),
        "fasttext": _in_process(run_fasttext, data),
    }
    speed = {name: result["timings"]["batch_comments_per_s"] for name, result in results.items()}
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "splits": {"train": len(train), "valid": len(valid), "test": len(test)},
        "real_benchmark_files": [p.name for p in real],
        "results": results,
        "throughput_ratio_to_fasttext": {
            name: round(value / speed["fasttext"], 3) for name, value in speed.items()
        },
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        print(name, json.dumps({k: v for k, v in result.items() if k != "metrics"}))
        for split, scopes in result["metrics"].items():
            print(" ", split, {s: (m["cause_macro_f1"], m["troll_f1"]) for s, m in scopes.items()})


if __name__ == "__main__":
    main()
