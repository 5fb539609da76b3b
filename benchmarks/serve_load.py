"""Load test of `triage serve` (docs/benchmarks.md, "HTTP service"): requests/s and latency percentiles.

Starts the server with the pipeline's model on a loopback port, then drives it with `wrk`
(an established C load generator, light enough to leave the cores to the server; Debian
package `wrk`) for single-item requests and 64-item batches at concurrency 1 and 32. Request
bodies rotate through the test split's comments, so every request scores different texts.
Writes reports/serve_load.json (or --out).

    python benchmarks/serve_load.py [--workers 2] [--seconds 15]
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

BIN = Path(sys.executable).parent

# wrk's Lua hooks: rotate through the bodies file (one JSON body per line), report percentiles.
LUA = """
local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/predict", {["Content-Type"] = "application/json"}, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.5)
    raise SystemExit("server did not start")


def run_case(url: str, bodies: Path, batch: int, concurrency: int, seconds: int, lua: Path) -> dict:
    threads = min(2, concurrency)
    command = [
        "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
        "-s", str(lua), url, "--", str(bodies),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return {
        "batch": batch,
        "concurrency": concurrency,
        "requests": raw["requests"],
        "errors": raw["errors"],
        "requests_per_s": round(raw["requests"] / raw["seconds"], 1),
        "comments_per_s": round(raw["requests"] * batch / raw["seconds"], 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
    }


def write_bodies(path: Path, texts: list[str], batch: int, count: int = 500) -> Path:
    with path.open("w") as handle:
        for i in range(count):
            items = [{"text": texts[(i * batch + j) % len(texts)]} for j in range(batch)]
            handle.write(json.dumps({"items": items}, ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--out", default="reports/serve_load.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    texts = pd.read_json("data/processed/test.jsonl", lines=True).text.tolist()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "triage"), "serve", "--port", str(port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cases = []
    try:
        wait_ready(url, server)
        time.sleep(3 * args.workers)  # every worker loads the model and warms up
        with tempfile.TemporaryDirectory() as tmp:
            lua = Path(tmp, "bodies.lua")
            lua.write_text(LUA)
            for batch in (1, 64):
                bodies = write_bodies(Path(tmp, f"bodies-{batch}.jsonl"), texts, batch)
                for concurrency in (1, 32):
                    run_case(url, bodies, batch, concurrency, 3, lua)  # warm connections and caches
                    result = run_case(url, bodies, batch, concurrency, args.seconds, lua)
                    print(json.dumps(result), flush=True)
                    cases.append(result)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "wrk and the server share the cores",
        "server": f"triage serve --workers {args.workers}, model artifacts/model",
        "load": f"wrk, {args.seconds} s per case after a 3 s warm-up, bodies rotating over the test split",
        "cases": cases,
    }
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
