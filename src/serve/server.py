"""`triage serve`: load the model (or stop with one clear line) and run uvicorn."""

import logging
import os
import signal

import uvicorn
from triage.models.transformer import THREADS_ENV, onnx_threads
from triage.serve.app import create_app
from triage.serve.cache import cache_size_from_env
from triage.serve.observability import LOGGER, configure_json_logging
from triage.serve.predictor import MODEL_URI_ENV, Predictor, model_source
from triage.serve.protocol import MAX_HEADER_BYTES, GuardedHttpToolsProtocol
from triage.serve.rollout import poll_seconds_from_env
from triage.serve.workers import ReloadingMultiprocess, prepare_metrics_dir

API_KEY_ENV = "TRIAGE_API_KEY"
WORKER_HEALTHCHECK_SECONDS = 120


MAX_CONNECTIONS = 1000
"""Concurrent connections per worker; beyond it uvicorn answers 503 at once."""
KEEP_ALIVE_SECONDS = 5


def api_key_from_env() -> str | None:
    """`$TRIAGE_API_KEY`, or None when unset. Set but empty (or blank) is a misconfiguration:
    refused, so that a typo never serves without authentication."""
    value = os.environ.get(API_KEY_ENV)
    if value is None:
        return None
    if not value.strip():
        raise ValueError(f"{API_KEY_ENV} is set but empty; unset it to serve without authentication")
    return value


def threads_per_worker(workers: int) -> int:
    """The cores this process may use, shared among the workers (at least one each)."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def app_from_env():
    """App factory for multi-worker runs: each worker loads `$TRIAGE_MODEL_URI` itself."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the app listens for it: never fatal
    configure_json_logging()
    source = model_source()
    return create_app(
        Predictor.load(source), api_key_from_env(), source=source, poll_seconds=poll_seconds_from_env()
    )


def serve(host: str, port: int, workers: int, model: str | None) -> None:
    """Load first, so a missing or broken model never becomes a half-working server; settings
    are checked before anything is loaded."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload request while loading is not a crash
    # MLflow draws a progress bar on stderr for every download (start-up and each roll-out):
    # noise between the JSON log lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    configure_json_logging()
    api_key = api_key_from_env()
    poll_seconds = poll_seconds_from_env()
    cache_size = cache_size_from_env()
    onnx_threads({})  # a malformed TRIAGE_ONNX_THREADS stops start-up here, in one line
    source = model_source(model)
    if workers > 1:  # every worker's encoder reads it; a value the operator set wins
        os.environ.setdefault(THREADS_ENV, str(threads_per_worker(workers)))
    prepare_metrics_dir(workers)
    predictor = Predictor.load(source)
    logging.getLogger(LOGGER).info(
        "starting",
        extra={
            "host": host,
            "port": port,
            "workers": workers,
            "auth": api_key is not None,
            "model_poll_seconds": poll_seconds,
            "cache_size": cache_size,
            "onnx_threads": os.environ.get(THREADS_ENV, "the model's setting"),
        },
    )
    common = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        # Limits (see docs/reliability.md): uvicorn's own settings, and for what uvicorn has no
        # setting for with the httptools parser (header size, slow headers/bodies) our protocol.
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": MAX_CONNECTIONS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
    if workers > 1:
        os.environ[MODEL_URI_ENV] = source
        # A worker answers the supervisor's health pings from a thread that needs the GIL, which
        # unpickling the model and loading lingua's models hold for seconds: allow for that.
        config = uvicorn.Config(
            "triage.serve.server:app_from_env",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **common,
        )
        ReloadingMultiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(create_app(predictor, api_key, source=source, poll_seconds=poll_seconds), **common)
