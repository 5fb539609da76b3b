"""Hostile HTTP clients: client mistakes are 4xx with the JSON error body, never 500s or tracebacks."""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from triage.models.artifact import save_model
from triage.serve.app import create_app
from triage.serve.predictor import Predictor
from triage.serve.protocol import MAX_HEADER_BYTES, GuardedHttpToolsProtocol

from tests.conftest import free_port
from tests.test_http import wait_ready

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


class QuickDeadlines(GuardedHttpToolsProtocol):
    header_timeout = 1.0
    body_timeout = 1.0


@pytest.fixture(scope="module")
def server(fitted_model, tmp_path_factory):
    """The app on uvicorn with the service's protocol (short deadlines, so tests stay quick)."""
    model_dir = save_model(fitted_model, tmp_path_factory.mktemp("hostile-model"))
    port = free_port()
    config = uvicorn.Config(
        create_app(Predictor.load(model_dir)), host="127.0.0.1", port=port, log_config=None,
        http=QuickDeadlines, timeout_keep_alive=5,
    )  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    yield url, port
    running.should_exit = True
    thread.join(timeout=30)


def _post(url: str, body: bytes, headers: dict | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(headers or {})}
    return httpx.post(f"{url}/v1/predict", content=body, headers=headers, timeout=30)


def _raw(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes; return everything the server answers until it closes (or `wait` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(data)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def _json_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)["error"]


HOURS = "settings.response_time_hours"
NESTED = b"[" * 481 + b"]" * 481


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"items":' + NESTED + b"}", None),
        (b'{"items":[{"text":"hi","id":' + NESTED + b"}]}", None),
        (NESTED, None),
        (b'{"items":[{"text":"hi","id":18446744073709551616}]}', "items.0.id"),
        (b'{"items":[{"text":"hi","id":' + b"7" * 5000 + b"}]}", None),
        (b'{"items":[{"text":"hi"}],"settings":{"response_time_hours":true}}', HOURS),
        (b'{"items":[{"text":"hi"}],"settings":{"response_time_hours":"4"}}', HOURS),
        (b'{"items":[{"text":"hi"}],"settings":{"thresholds":{"report_troll_at":"0.9"}}}', None),
    ],
)
def test_client_mistakes_are_422_with_the_error_body(server, body, field):
    url, _ = server
    answer = _post(url, body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] in ("invalid_request", "invalid_settings") and error["message"]
    if field:
        assert error["field"] == field
    assert _post(url, b'{"items":[{"text":"still serving"}]}').status_code == 200


def test_a_huge_header_is_refused_with_431_before_it_is_read(server):
    url, port = server
    answer = _raw(port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 200_000)
    status, error = _json_error(answer)
    assert status == 431 and error["code"] == "headers_too_large"
    fits = httpx.get(f"{url}/healthz", headers={"X-Padding": "a" * (MAX_HEADER_BYTES // 2)})
    assert fits.status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # headers never finish
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"items"',  # body never finishes
        b"",  # connects and says nothing
    ],
)
def test_half_sent_and_idle_connections_are_closed_with_408(server, request_bytes):
    _, port = server
    started = time.monotonic()
    answer = _raw(port, request_bytes, wait=10)
    assert time.monotonic() - started < 5
    status, error = _json_error(answer)
    assert status == 408 and error["code"] == "request_timeout"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"FROB /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/9.9 extra\r\n\r\n",
    ],
)
def test_requests_the_parser_rejects_are_answered_in_json(server, request_bytes):
    _, port = server
    status, error = _json_error(_raw(port, request_bytes))
    assert status == 400 and error["code"] == "bad_request"


def test_a_client_that_disconnects_mid_request_is_not_a_500(server, caplog):
    url, port = server
    caplog.set_level(logging.INFO, logger="triage.http")
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"items": [{"text": "half'
        )
        time.sleep(0.3)
    deadline = time.time() + 10
    while time.time() < deadline and 'status="499"' not in httpx.get(f"{url}/metrics").text:
        time.sleep(0.2)
    metrics = httpx.get(f"{url}/metrics").text
    assert 'route="/v1/predict",status="499"' in metrics.replace('method="POST",', "")
    assert 'status="500"' not in metrics
    messages = [r.getMessage() for r in caplog.records if r.name == "triage.http"]
    assert "client disconnected" in messages and "unhandled error" not in messages


def test_an_empty_api_key_refuses_to_start(fitted_model, tmp_path):
    model_dir = save_model(fitted_model, tmp_path / "model")
    for value in ("", "   "):
        result = subprocess.run(
            [str(BIN / "triage"), "serve", "--model", str(model_dir), "--port", str(free_port())],
            env={**os.environ, "TRIAGE_API_KEY": value}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "TRIAGE_API_KEY is set but empty" in result.stderr
