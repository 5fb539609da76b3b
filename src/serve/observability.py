"""Structured JSON logs and Prometheus metrics for the HTTP service.

Logs carry the request id, route, status, latency and item count, never comment texts or
names. Metrics live in the service's own registry so tests and several apps in one process
do not collide.
"""

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LOGGER = "triage.http"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the message plus any `extra=` fields."""

    _RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._RESERVED})
        if record.exc_info:
            payload["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in (LOGGER, "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


class ServiceMetrics:
    """Requests by route and status, latency, and predictions by lang/cause/troll/action."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "triage_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "triage_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.predictions = Counter(
            "triage_predictions_total",
            "Predictions served",
            ["lang", "cause", "troll", "action"],
            registry=self.registry,
        )
