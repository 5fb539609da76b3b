"""`triage serve`: load the model (or stop with one clear line) and run uvicorn."""

import logging
import os

import uvicorn
from triage.serve.app import create_app
from triage.serve.observability import LOGGER, configure_json_logging
from triage.serve.predictor import MODEL_URI_ENV, Predictor

API_KEY_ENV = "TRIAGE_API_KEY"
WORKER_HEALTHCHECK_SECONDS = 120


def app_from_env():
    """App factory for multi-worker runs: each worker loads `$TRIAGE_MODEL_URI` itself."""
    configure_json_logging()
    return create_app(Predictor.load(), os.environ.get(API_KEY_ENV) or None)


def serve(host: str, port: int, workers: int, model: str | None) -> None:
    """Load first, so a missing or broken model never becomes a half-working server."""
    configure_json_logging()
    predictor = Predictor.load(model)
    api_key = os.environ.get(API_KEY_ENV) or None
    logging.getLogger(LOGGER).info(
        "starting",
        extra={"host": host, "port": port, "workers": workers, "auth": api_key is not None},
    )
    common = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if workers > 1:
        if model is not None:
            os.environ[MODEL_URI_ENV] = str(model)
        # A worker answers the supervisor's health pings from a thread that needs the GIL, which
        # unpickling the model and loading lingua's models hold for seconds: allow for that.
        uvicorn.run(
            "triage.serve.server:app_from_env",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **common,
        )
    else:
        uvicorn.run(create_app(predictor, api_key), **common)
