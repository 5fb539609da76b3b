"""Structured JSON logs and Prometheus metrics for the HTTP service.

Logs carry the request id, route, status, latency, item count and the worker's process id,
never comment texts or names. Metrics live in the service's own registry so tests and several
apps in one process do not collide. With several worker processes (`PROMETHEUS_MULTIPROC_DIR`
set, see `triage.serve.multiproc`) each worker writes its values to files there and `/metrics`,
whichever worker answers it, reads them all: counters and histograms are summed over workers.
"""

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

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
            "pid": record.process,
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


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CACHE_HITS = "triage_prediction_cache_hits"
CACHE_MISSES = "triage_prediction_cache_misses"


class CacheHitRatio(Collector):
    """`triage_prediction_cache_hit_ratio`, computed at scrape time from the (summed) hit and
    miss counters: a ratio kept by each worker could not be added up."""

    def __init__(self, source: Collector):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        totals = {f"{CACHE_HITS}_total": 0.0, f"{CACHE_MISSES}_total": 0.0}
        for family in self._source.collect():
            for sample in family.samples:
                if sample.name in totals:
                    totals[sample.name] += sample.value
        hits, misses = totals.values()
        ratio = hits / (hits + misses) if hits + misses else 0.0
        yield GaugeMetricFamily(
            "triage_prediction_cache_hit_ratio",
            "Share of scored comments answered from the cache since start (0 before any)",
            value=ratio,
        )


class ServiceMetrics:
    """Requests by route and status, latency, predictions by lang/cause/troll/action, the score
    cache, and model roll-outs."""

    def __init__(self) -> None:
        directory = os.environ.get(MULTIPROC_ENV)
        self.multiprocess = bool(directory)
        own = None if directory else CollectorRegistry()  # multiprocess values live in files
        self.requests = Counter(
            "triage_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "triage_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=own,
        )
        self.predictions = Counter(
            "triage_predictions_total",
            "Predictions served",
            ["lang", "cause", "troll", "action"],
            registry=own,
        )
        self.cache_hits = Counter(CACHE_HITS, "Comments whose scores came from the cache", registry=own)
        self.cache_misses = Counter(CACHE_MISSES, "Comments the model had to score", registry=own)
        self.cache_entries = Gauge(
            "triage_prediction_cache_entries",
            "Entries in the score cache (summed over live workers)",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.reloads = Counter(
            "triage_model_reloads_total",
            "Attempts to load a new model version: success (swapped in) or failure (old one kept)",
            ["result"],
            registry=own,
        )
        self.model = Gauge(
            "triage_model_serving",
            "1 for the model version this process serves (summed: workers serving it)",
            ["name", "version", "digest"],
            registry=own,
            multiprocess_mode="livesum",
        )
        for result in ("success", "failure"):
            self.reloads.labels(result)  # both series exist from the start, at 0
        source: Collector = MultiProcessCollector(None, path=directory) if directory else own  # type: ignore[assignment]
        self.registry = CollectorRegistry()
        self.registry.register(source)
        self.registry.register(CacheHitRatio(source))

    def serving(self, model: tuple[str, str, str], previous: tuple[str, str, str] | None = None) -> None:
        """Mark the model (name, version, digest) now served, and the one it replaces as not."""
        if previous is not None:
            self.model.labels(*previous).set(0)
        self.model.labels(*model).set(1)

    def close(self) -> None:
        """A stopping worker's gauges leave the sums (its counters stay: totals never drop)."""
        if self.multiprocess:
            mark_process_dead(os.getpid())
