"""`triage serve --workers 2`: `/metrics` sums every worker's counters whichever worker answers
the scrape, values left by an earlier run are not added in, and SIGHUP reaches every worker."""

import dataclasses
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from triage.models.artifact import save_model
from triage.serve.observability import MULTIPROC_ENV
from triage.serve.rollout import MODEL_POLL_ENV
from triage.serve.server import threads_per_worker

from tests.conftest import ServeProcess

pytestmark = pytest.mark.slow
STALE = 1000
"""A count an earlier run left in the metrics folder: it must not show."""


def samples(text: str) -> dict[str, float]:
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def test_metrics_are_summed_over_two_workers(fitted_model, sample_splits, tmp_path):
    model_dir = save_model(dataclasses.replace(fitted_model, version="4"), tmp_path / "model")
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    leave_stale = (
        "from prometheus_client import Counter\n"
        "Counter('triage_http_requests', 'x', ['route', 'method', 'status'])"
        f".labels('/v1/predict', 'POST', '200').inc({STALE})\n"
    )
    subprocess.run([sys.executable, "-c", leave_stale], env={MULTIPROC_ENV: str(metrics_dir)}, check=True)
    assert list(metrics_dir.glob("counter_*.db"))
    server = ServeProcess(
        ["--workers", "2", "--model", str(model_dir)],
        tmp_path / "server.log",
        env={MULTIPROC_ENV: str(metrics_dir), MODEL_POLL_ENV: "0"},
    )
    try:
        texts = sample_splits["test"].text.tolist()[:5]
        sent, lock = 0, threading.Lock()

        def send(k: int) -> None:  # a new connection each time, so both workers get some
            nonlocal sent
            for n in range(10):
                response = httpx.post(
                    f"{server.url}/v1/predict", json={"items": [{"text": texts[(k + n) % 5]}]}, timeout=60
                )
                assert response.status_code == 200
                with lock:
                    sent += 1

        def workers_that_answered() -> set[int]:
            return {r["pid"] for r in server.log_records("request") if r["route"] == "/v1/predict"}

        for _ in range(10):  # until both workers have answered some (the kernel picks the worker)
            threads = [threading.Thread(target=send, args=(k,)) for k in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if len(workers_that_answered()) == 2:
                break
        assert len(workers_that_answered()) == 2
        [starting] = server.log_records("starting")  # the cores are shared among the workers
        assert starting["onnx_threads"] == str(threads_per_worker(2))

        scrapes = [samples(httpx.get(f"{server.url}/metrics", timeout=10).text) for _ in range(8)]
        route = 'triage_http_requests_total{method="POST",route="/v1/predict",status="200"}'
        for scraped in scrapes:  # the same totals whichever worker answered
            assert scraped[route] == sent
            predictions = sum(v for k, v in scraped.items() if k.startswith("triage_predictions_total{"))
            assert predictions == sent
            hits = scraped["triage_prediction_cache_hits_total"]
            misses = scraped["triage_prediction_cache_misses_total"]
            assert hits + misses == sent and misses >= len(texts) and hits > 0
            assert scraped["triage_prediction_cache_hit_ratio"] == pytest.approx(hits / sent)
            serving = [v for k, v in scraped.items() if k.startswith("triage_model_serving{")]
            assert serving == [2.0]  # two live workers serve version 4

        server.process.send_signal(signal.SIGHUP)  # forwarded: each worker checks its folder
        deadline = time.time() + 30
        while len({r["pid"] for r in server.log_records("model unchanged")}) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert {r["pid"] for r in server.log_records("model unchanged")} == workers_that_answered()
        assert server.process.poll() is None
    finally:
        server.stop()


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert [threads_per_worker(n) for n in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]
