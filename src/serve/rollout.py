"""Roll-out without downtime: the service follows its model source and swaps models live.

The source is what the service was started with. `models:/triage@champion` follows the alias:
when it moves to another version, that version is loaded. A folder is followed by its artifact
digest (a new `dvc repro` output). A pinned version (`models:/triage/3`) or a `runs:/` URI
never moves. The source is checked every `$TRIAGE_MODEL_POLL_SECONDS` and on `SIGHUP`.

A new version is loaded beside the old one (in a worker thread: requests keep being answered),
verified (the loader checks every file's sha256 against the manifest and, for a registered
version, the artifact digest against its `artifact_sha256` tag; here also the digest the source
promised), warmed up with a prediction whose scores must be finite, then swapped in on the
event loop. A version that fails any step is never swapped in: the old one keeps serving, one
log line says why and `triage_model_reloads_total{result="failure"}` counts it. The same failed
version is not retried by polling (no log line per poll), only when the source moves again or
on `SIGHUP`.
"""

import asyncio
import gc
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool
from triage.models.artifact import ARTIFACT_TAG, ModelLoadError, artifact_digest
from triage.serve.observability import LOGGER, ServiceMetrics
from triage.serve.predictor import MLFLOW_SCHEMES, Predictor, registry_entry
from triage.serve.serving import ServingModel

log = logging.getLogger(LOGGER)
MODEL_POLL_ENV = "TRIAGE_MODEL_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 30.0
WARM_UP_TEXTS = ["Курьер опоздал", "Дякую за сервіс", "Благодаря", "the app crashes", "kurier opyat opozdal"]


def poll_seconds_from_env() -> float:
    """`$TRIAGE_MODEL_POLL_SECONDS` (0 turns polling off; `SIGHUP` still reloads), or 30."""
    value = os.environ.get(MODEL_POLL_ENV, "").strip()
    if not value:
        return DEFAULT_POLL_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{MODEL_POLL_ENV} must be a number of seconds (0 turns polling off), not {value!r}")
    return seconds


@dataclass(frozen=True)
class Target:
    """What the source points at now: where to load it from, and the version and digest it must have."""

    ref: str
    version: str | None
    digest: str | None

    def serves(self, predictor: Predictor) -> bool:
        """Whether `predictor` already is this target (an unknown field is not compared)."""
        same_version = self.version is None or self.version == predictor.info.version
        same_digest = self.digest is None or self.digest == predictor.digest
        return same_version and same_digest


def movable(source: str) -> bool:
    """Whether the source can point at another model later: an alias or a folder."""
    if source.startswith("models:/"):
        return "@" in source
    return not source.startswith(MLFLOW_SCHEMES)


def resolve(source: str) -> Target:
    """The model `source` points at now (a registry query or a manifest read; no model load)."""
    if source.startswith("models:/"):
        entry = registry_entry(source)
        if entry is not None:
            name = source.removeprefix("models:/").split("@", 1)[0].split("/", 1)[0]
            return Target(f"models:/{name}/{entry.version}", str(entry.version), entry.tags.get(ARTIFACT_TAG))
    if source.startswith(MLFLOW_SCHEMES):
        return Target(source, None, None)
    return Target(source, None, artifact_digest(Path(source)))


def warm_up(predictor: Predictor, texts: Sequence[str] = WARM_UP_TEXTS) -> None:
    """Load lazy parts (lingua's models) and run one prediction; refuse a model whose scores are
    not finite probabilities (a broken artifact that loads but cannot answer)."""
    predictor.model.langid.warm_up()
    scores = predictor.model.score(list(texts))
    proba = np.asarray(scores.cause_proba, dtype=float)
    if not (np.isfinite(proba).all() and np.isfinite(np.asarray(scores.troll_proba, dtype=float)).all()):
        raise ModelLoadError("the warm-up prediction gave scores that are not finite numbers")
    if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
        raise ModelLoadError("the warm-up prediction's cause scores do not sum to 1")
    Predictor(predictor.model, predictor.replies).predict(list(texts))  # replies too; leaves the cache alone


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class Follower:
    """Checks the source every `poll_seconds` (0: never) and whenever `request_check` is called
    (the `SIGHUP` handler); loads, verifies, warms up and swaps in what it points at."""

    def __init__(self, serving: ServingModel, source: str, poll_seconds: float, metrics: ServiceMetrics):
        self.serving, self.source, self.metrics = serving, source, metrics
        self.poll_seconds = poll_seconds if movable(source) else 0.0
        self._wake = asyncio.Event()
        self._failed: Target | None = None
        self._lock = asyncio.Lock()

    def request_check(self) -> None:
        """Check the source now and retry a version that failed before (`SIGHUP`)."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: wait for the interval or a request, then check."""
        while True:
            forced = await self._wait()
            await self.check(forced=forced)

    async def _wait(self) -> bool:
        timeout = self.poll_seconds or None
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    async def check(self, forced: bool = False) -> bool:
        """Swap in what the source points at if it is not what is served; True when swapped."""
        async with self._lock:
            try:
                target = await run_in_threadpool(resolve, self.source)
            except Exception as exc:  # the registry is unreachable, the folder half-written...
                return self._failure(Target(self.source, None, None), exc, forced)
            serving = self.serving.current.predictor
            if target.serves(serving):
                self._failed = None
                if forced:
                    log.info("model unchanged", extra=self._describe(target))
                return False
            if target == self._failed and not forced:
                return False
            started = time.perf_counter()
            try:
                predictor = await run_in_threadpool(self._load, target, serving)
            except Exception as exc:
                return self._failure(target, exc, True)
            old = self.serving.swap(predictor)
            gc.freeze()  # as at start-up: keep the new model's objects out of full collections
            self._failed = None
            self.metrics.reloads.labels("success").inc()
            self.metrics.serving(self.serving.current.labels, old.labels)
            self.metrics.cache_entries.set(len(predictor.cache))
            log.info(
                "model swapped",
                extra={
                    "source": self.source,
                    "version": predictor.info.version,
                    "digest": predictor.digest,
                    "previous_version": old.predictor.info.version,
                    "previous_digest": old.predictor.digest,
                    "load_seconds": round(time.perf_counter() - started, 2),
                },
            )
            return True

    def _load(self, target: Target, serving: Predictor) -> Predictor:
        """Runs in a worker thread, beside the serving model."""
        predictor = Predictor.load(target.ref, replies=serving.replies, cache=serving.cache)
        if target.digest is not None and predictor.digest != target.digest:
            raise ModelLoadError(
                f"loaded artifact digest {str(predictor.digest)[:16]}… is not the {target.digest[:16]}… "
                "the source named (it changed during the load)"
            )
        warm_up(predictor)
        return predictor

    def _failure(self, target: Target, exc: BaseException, log_it: bool) -> bool:
        """One log line and the failure counter, once per failed target (unless forced)."""
        repeated = target == self._failed
        self._failed = target
        if log_it or not repeated:
            self.metrics.reloads.labels("failure").inc()
            log.error(
                "model reload failed; the previous model keeps serving",
                extra={**self._describe(target), "reason": _first_line(exc)},
            )
        return False

    def _describe(self, target: Target) -> dict[str, str | None]:
        current = self.serving.current.predictor
        return {
            "source": self.source,
            "target_version": target.version,
            "target_digest": target.digest,
            "serving_version": current.info.version,
            "serving_digest": current.digest,
        }
