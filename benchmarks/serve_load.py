"""Load test of `triage serve` (docs/benchmarks.md, "HTTP service"): requests/s and latency percentiles.

Starts the server with the pipeline's model on a loopback port, then drives it with `wrk`
(an established C load generator, light enough to leave the cores to the server; Debian
package `wrk`) for single-item requests and 64-item batches at concurrency 1 and 32. Request
bodies rotate through the test split's comments, so every request scores different texts.

The fairness scenario (issue 15: "8 × 256 items held one item 4.5 s") keeps 8 requests of 256
items (the maximum) in flight with wrk while this script sends one-item requests one at a time
and times them: with the fair scoring queue a one-item request waits for at most the batch in
progress, not for every queued item.
Writes reports/serve_load.json (or --out).

    python benchmarks/serve_load.py [--workers 2] [--seconds 15] [--scenario all|throughput|fairness]
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
import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent
FAIR_BATCH, FAIR_CONCURRENCY = 256, 8
"""The fairness scenario's background load: the maximum items per request, several in flight."""
PROBE_PAUSE_S = 0.05

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


def wrk_command(url: str, bodies: Path, concurrency: int, seconds: int, lua: Path) -> list[str]:
    threads = min(2, concurrency)
    return [
        "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
        "-s", str(lua), url, "--", str(bodies),
    ]  # fmt: skip


def wrk_result(output: str, batch: int, concurrency: int) -> dict:
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


def run_case(url: str, bodies: Path, batch: int, concurrency: int, seconds: int, lua: Path) -> dict:
    command = wrk_command(url, bodies, concurrency, seconds, lua)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return wrk_result(output, batch, concurrency)


def run_fairness(url: str, bodies: Path, texts: list[str], seconds: int, lua: Path) -> dict:
    """One-item requests timed one at a time while wrk keeps 8 × 256 items in flight."""
    command = wrk_command(url, bodies, FAIR_CONCURRENCY, seconds, lua)
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latencies = []
    try:
        time.sleep(min(1.0, seconds / 4))  # the big requests are queued before the first probe
        deadline = time.monotonic() + seconds - 2 * min(1.0, seconds / 4)
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() < deadline or not latencies:
                body = {"items": [{"text": texts[len(latencies) % len(texts)]}]}
                start = time.perf_counter()
                client.post("/v1/predict", json=body).raise_for_status()
                latencies.append(time.perf_counter() - start)
                time.sleep(PROBE_PAUSE_S)
        output, errors = load.communicate(timeout=seconds + 60)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if load.returncode:
        raise SystemExit(f"wrk failed: {errors.strip()}")
    ms = np.array(latencies) * 1000
    return {
        "scenario": f"1 item, one request at a time, while {FAIR_CONCURRENCY} requests of "
        f"{FAIR_BATCH} items are in flight",
        "probes": len(latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(ms.max()), 2),
        "background": wrk_result(output, FAIR_BATCH, FAIR_CONCURRENCY),
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
    parser.add_argument("--scenario", choices=["all", "throughput", "fairness"], default="all")
    parser.add_argument("--model", help="model folder or MLflow URI (default: the server's, artifacts/model)")
    parser.add_argument("--texts", default="data/processed/test.jsonl", help="JSONL with a `text` field")
    parser.add_argument("--out", default="reports/serve_load.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    texts = pd.read_json(args.texts, lines=True).text.tolist()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    model = ["--model", args.model] if args.model else []
    server = subprocess.Popen(
        [str(BIN / "triage"), "serve", "--port", str(port), "--workers", str(args.workers), *model],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cases, fairness = [], None
    try:
        wait_ready(url, server)
        time.sleep(3 * args.workers)  # every worker loads the model and warms up
        with tempfile.TemporaryDirectory() as tmp:
            lua = Path(tmp, "bodies.lua")
            lua.write_text(LUA)
            for batch in (1, 64) if args.scenario in ("all", "throughput") else ():
                bodies = write_bodies(Path(tmp, f"bodies-{batch}.jsonl"), texts, batch)
                for concurrency in (1, 32):
                    run_case(url, bodies, batch, concurrency, 3, lua)  # warm connections and caches
                    result = run_case(url, bodies, batch, concurrency, args.seconds, lua)
                    print(json.dumps(result), flush=True)
                    cases.append(result)
            if args.scenario in ("all", "fairness"):
                bodies = write_bodies(Path(tmp, f"bodies-{FAIR_BATCH}.jsonl"), texts, FAIR_BATCH, count=50)
                fairness = run_fairness(url, bodies, texts, args.seconds, lua)
                print(json.dumps(fairness), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "wrk and the server share the cores",
        "server": f"triage serve --workers {args.workers}, model {args.model or 'artifacts/model'}",
        "load": f"wrk, {args.seconds} s per case (throughput cases after a 3 s warm-up), "
        f"bodies rotating over {args.texts}",
        "cases": cases,
        **({"fairness": fairness} if fairness else {}),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
