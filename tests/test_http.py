"""The HTTP service against a real uvicorn server on a loopback port."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from triage.models.artifact import artifact_digest, save_model
from triage.serve.app import create_app
from triage.serve.predictor import Predictor

from tests.conftest import free_port

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready")


class Server:
    """`triage serve` in a subprocess; its log goes to a file the tests can read."""

    def __init__(self, model_dir: Path, log_path: Path, api_key: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "TRIAGE_API_KEY"}
        if api_key:
            env["TRIAGE_API_KEY"] = api_key
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [str(BIN / "triage"), "serve", "--model", str(model_dir), "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url, self.process)

    def stop(self) -> bool:
        """SIGTERM, then True when uvicorn shut down gracefully. uvicorn re-raises the signal
        after its shutdown completes, so the exit status is -SIGTERM, not 0."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.log.close()
        finished = "Finished server process" in self.log_path.read_text()
        return finished and code in (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def model_dir(fitted_model, tmp_path_factory):
    fitted_model.version = "3"
    return save_model(fitted_model, tmp_path_factory.mktemp("http-model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    running = Server(model_dir, tmp_path_factory.mktemp("logs") / "server.log")
    yield running
    assert running.stop()


@pytest.fixture(scope="module")
def direct(model_dir):
    return Predictor.load(model_dir)


def post(url: str, payload=None, *, content: bytes | None = None, headers=None, client=httpx):
    headers = {"Content-Type": "application/json", **(headers or {})}
    body = content if content is not None else json.dumps(payload).encode()
    return client.post(f"{url}/v1/predict", content=body, headers=headers, timeout=60)


def test_health_readiness_docs(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["model"] == {"name": "triage", "version": "3"}
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{server.url}/openapi.json").json()
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"]["items"] and "PredictRequest" in spec["components"]["schemas"]
    assert {"400", "413", "415", "422"} <= set(spec["paths"]["/v1/predict"]["post"]["responses"])
    assert "ServedModel" in spec["components"]["schemas"] and "/v1/model" in spec["paths"]


def test_predict_matches_the_predictor_in_input_order(server, direct, sample_splits):
    texts = sample_splits["test"].text.tolist()[:40]
    items = [
        {"text": t, "id": f"t{i}", **({"name": "Олена"} if i % 3 == 0 else {})} for i, t in enumerate(texts)
    ]
    for item in items[::2]:
        item["created_at"] = "2026-11-24T11:30:00+02:00"
    response = post(server.url, {"items": items, "settings": {"brand": "Zetta"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "triage", "version": "3"}
    expected = direct.predict(
        texts,
        ids=[i["id"] for i in items],
        names=[i.get("name") for i in items],
        created_at=[i.get("created_at") for i in items],
        settings={"brand": "Zetta"},
    )
    assert [p["id"] for p in body["predictions"]] == [i["id"] for i in items]
    first, second = body["predictions"][:2]
    assert first["created_at"] == "2026-11-24T09:30:00Z" and first["respond_by"] > first["created_at"]
    assert second["created_at"] is None and second["respond_by"] is None
    assert first["priority"] in {"urgent", "high", "normal", "low"}
    assert [{k: v for k, v in p.items() if k not in ("id", "created_at")} for p in body["predictions"]] == [
        json.loads(e.model_dump_json()) for e in expected
    ]
    assert response.headers["x-request-id"]


def test_metrics_count_requests_and_predictions(server):
    post(server.url, {"items": [{"text": "The courier lost my parcel again"}]})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'triage_http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert "triage_http_request_seconds_bucket" in text
    assert "triage_predictions_total{" in text


LONG = "я" * 5001


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"items": [', {}, 400, "invalid_json"),
        (b'{"items": [{"text": "\xff\xfe"}]}', {}, 400, "invalid_encoding"),
        (json.dumps({"items": [{"text": 5}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": "hello"}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"texts": ["hello"]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": "hi", "colour": "red"}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": ""}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": " \n\t "}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": []}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": LONG}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": "hi", "id": [1]}]}).encode(), {}, 422, "invalid_request"),
        (json.dumps({"items": [{"text": "hi"}], "settings": {"response_time_hours": -1}}).encode(), {}, 422,
         "invalid_settings"),
        (json.dumps({"items": [{"text": "hi"}] * 257}).encode(), {}, 413, "too_many_items"),
        (json.dumps({"items": [{"text": "x" * 4000}] * 300}).encode(), {}, 413, "payload_too_large"),
        (json.dumps({"items": [{"text": "hi"}]}).encode(), {"Content-Type": "text/plain"}, 415,
         "unsupported_media_type"),
        (b"[1, 2, 3]", {}, 422, "invalid_request"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(server, content, headers, status, code):
    response = post(server.url, content=content, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_error_names_the_field(server):
    response = post(server.url, {"items": [{"text": "ok"}, {"text": ""}]})
    assert response.json()["error"]["field"] == "items.1.text"


@pytest.mark.parametrize(
    "text",
    [
        "NUL \x00 inside",
        "😡" * 2000,
        "\u200f\u202eRTL marks around text\u202c",
        "lone surrogate \ud800 here",
        "\ufeffBOM and \u200bzero width",
    ],
)
def test_strange_but_valid_text_is_answered(server, text):
    content = json.dumps({"items": [{"text": text, "name": "\ud83d"}]}).encode()
    response = post(server.url, content=content)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["cause"]


def test_many_concurrent_clients_get_the_predictors_answers(server, direct, sample_splits):
    texts = sample_splits["test"].text.tolist()
    jobs = [(f"c{i}", texts[i % len(texts)]) for i in range(500)]
    expected = {
        job_id: json.loads(p.model_dump_json())
        for (job_id, _), p in zip(jobs, [direct.predict([t], ids=[i])[0] for i, t in jobs], strict=True)
    }
    local = threading.local()

    def call(job):
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        job_id, text = job
        return job_id, post(server.url, {"items": [{"id": job_id, "text": text}]}, client=local.client)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(call, jobs))
    assert all(r.status_code == 200 for _, r in results)
    for job_id, response in results:
        prediction = response.json()["predictions"][0]
        assert prediction.pop("id") == job_id
        assert prediction.pop("created_at") is None
        assert prediction == expected[job_id]


def test_logs_are_json_without_comment_text(server):
    secret = "Zqxj-unique-comment-text 4711"
    post(server.url, {"items": [{"text": secret, "name": "Brunhilde"}]})
    time.sleep(0.5)
    lines = [json.loads(x) for x in server.log_path.read_text().splitlines() if x.strip()]
    requests = [x for x in lines if x.get("message") == "request"]
    assert requests and {"request_id", "route", "status", "latency_ms", "items"} <= set(requests[-1])
    raw = server.log_path.read_text()
    assert secret not in raw and "Brunhilde" not in raw


def test_api_key_protects_v1_only(model_dir, tmp_path):
    server = Server(model_dir, tmp_path / "auth.log", api_key="s3cret-key")
    try:
        payload = {"items": [{"text": "hello"}]}
        assert post(server.url, payload).status_code == 401
        wrong = post(server.url, payload, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        assert post(server.url, payload, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert httpx.get(f"{server.url}/v1/model").status_code == 401
        served = httpx.get(f"{server.url}/v1/model", headers={"Authorization": "Bearer s3cret-key"}).json()
        assert served["name"] == "triage" and served["version"] == "3"
        assert served["digest"] == artifact_digest(model_dir) and served["kind"] == "tfidf_linear"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/metrics").status_code == 200
    finally:
        assert server.stop()


def test_graceful_shutdown_finishes_requests_in_flight(model_dir, tmp_path, sample_splits):
    """The request's body is still arriving when SIGTERM comes, so it is surely in flight."""
    server = Server(model_dir, tmp_path / "shutdown.log")
    texts = (sample_splits["train"].text.tolist() * 2)[:256]
    body = json.dumps({"items": [{"text": t} for t in texts]}).encode()
    signalled = threading.Event()
    result = {}

    def slow_body():
        yield body[:100]
        signalled.wait(timeout=30)
        time.sleep(0.3)  # the server is shutting down by now
        yield body[100:]

    def long_request():
        result["response"] = httpx.post(
            f"{server.url}/v1/predict",
            content=slow_body(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )

    worker = threading.Thread(target=long_request)
    worker.start()
    time.sleep(0.5)  # connection accepted and headers read: the request is in flight
    server.process.send_signal(signal.SIGTERM)
    signalled.set()
    worker.join(timeout=60)
    assert server.stop()
    assert result["response"].status_code == 200
    assert len(result["response"].json()["predictions"]) == 256


def test_missing_model_stops_start_up_with_one_line(tmp_path):
    run = subprocess.run(
        [str(BIN / "triage"), "serve", "--model", str(tmp_path / "none"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot start" in lines[0] and "Traceback" not in run.stderr


def test_a_malformed_thread_count_stops_start_up_with_one_line(model_dir):
    env = {**os.environ, "TRIAGE_ONNX_THREADS": "two"}
    run = subprocess.run(
        [str(BIN / "triage"), "serve", "--model", str(model_dir), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode != 0
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "TRIAGE_ONNX_THREADS" in lines[0] and "Traceback" not in run.stderr


class ExplodingPredictor(Predictor):
    """The real model and replies, failing on a chosen text: an unexpected server-side error."""

    def __init__(self, real: Predictor):
        super().__init__(real.model, real.replies)

    def score(self, texts):
        if any("boom" in t for t in texts):
            raise RuntimeError("secret internal detail")
        return super().score(texts)


def test_unexpected_errors_are_500_with_request_id_and_server_keeps_serving(direct):
    port = free_port()
    config = uvicorn.Config(
        create_app(ExplodingPredictor(direct)), host="127.0.0.1", port=port, log_config=None
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        failed = post(url, {"items": [{"text": "boom"}]})
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert error["code"] == "internal_error" and error["request_id"] == failed.headers["x-request-id"]
        assert "secret internal detail" not in failed.text and "Traceback" not in failed.text
        assert post(url, {"items": [{"text": "all good, thanks"}]}).status_code == 200
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)
