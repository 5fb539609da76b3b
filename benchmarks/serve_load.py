"""Load test of `triage serve` (docs/benchmarks.md, "HTTP service"): requests/s and latency percentiles.

Starts the server with the pipeline's model on a loopback port, then drives it with `wrk`
(an established C load generator, light enough to leave the cores to the server; Debian
package `wrk`) for single-item requests and 64-item batches at concurrency 1 and 32. Request
bodies rotate through the test split's comments, so every request scores different texts.

The fairness scenario (issue 15: "8 × 256 items held one item 4.5 s") keeps 8 requests of 256
items (the maximum) in flight with wrk while this script sends one-item requests one at a time
and times them: with the fair scoring queue a one-item request waits for at most the batch in
progress, not for every queued item.
With `--reference` the TF-IDF model (configs/linear.yaml, fitted here) goes through the same
cases in the same run, for the ratio. The score cache is off unless `--cache-size` says
otherwise: the bodies repeat the test split, so a cache would measure look-ups, not scoring.
Writes reports/serve_load.json (or --out).

    python benchmarks/serve_load.py [--workers 2] [--seconds 15] [--scenario all|throughput|fairness]
    python benchmarks/serve_load.py --workers 1 --seconds 10 --reference --out reports/serve_load_default.json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_model import fit_saved  # noqa: E402  (benchmarks/, beside this script)

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
        "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "120s",
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


def measure(label: str, model: str | None, args: argparse.Namespace, texts: list[str]) -> dict:
    """Start `triage serve` with `model` and run the scenarios against it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TRIAGE_CACHE_SIZE": str(args.cache_size)}
    server = subprocess.Popen(
        [str(BIN / "triage"), "serve", "--port", str(port), "--workers", str(args.workers),
         *(["--model", model] if model else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
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
                    # A case whose requests take longer than the run would measure nothing.
                    long = batch * concurrency > 256
                    seconds = max(args.seconds, args.long_seconds) if long else args.seconds
                    run_case(url, bodies, batch, concurrency, 3, lua)  # warm connections and caches
                    result = {"model": label, **run_case(url, bodies, batch, concurrency, seconds, lua)}
                    result["seconds"] = seconds
                    print(json.dumps(result), flush=True)
                    cases.append(result)
            if args.scenario in ("all", "fairness"):
                bodies = write_bodies(Path(tmp, f"bodies-{FAIR_BATCH}.jsonl"), texts, FAIR_BATCH, count=50)
                fairness = run_fairness(url, bodies, texts, args.seconds, lua)
                print(json.dumps({"model": label, **fairness}), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return {
        "model": label,
        "server": f"triage serve --workers {args.workers}, model {model or 'artifacts/model'}, "
        f"TRIAGE_CACHE_SIZE={args.cache_size}",
        "cases": cases,
        **({"fairness": fairness} if fairness else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--long-seconds", type=int, default=90, help="for 64 items at concurrency 32")
    parser.add_argument("--scenario", choices=["all", "throughput", "fairness"], default="all")
    parser.add_argument("--model", help="model folder or MLflow URI (default: the server's, artifacts/model)")
    parser.add_argument("--reference", action="store_true", help="also the TF-IDF model, fitted here")
    parser.add_argument("--cache-size", type=int, default=0, help="score cache entries (0: score every text)")
    parser.add_argument("--texts", default="data/processed/test.jsonl", help="JSONL with a `text` field")
    parser.add_argument("--out", default="reports/serve_load.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    texts = pd.read_json(args.texts, lines=True).text.tolist()
    with tempfile.TemporaryDirectory() as tmp:
        models = [("default", args.model)]
        if args.reference:
            models.append(("tfidf", str(fit_saved(Path(tmp) / "tfidf"))))
        runs = [measure(label, model, args, texts) for label, model in models]
    report = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "wrk and the server share the cores",
        "load": f"wrk, {args.seconds} s per case ({args.long_seconds} s for 64 items at concurrency 32; "
        f"throughput cases after a 3 s warm-up), bodies rotating over {args.texts}",
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
