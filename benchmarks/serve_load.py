"""Load test of `triage serve` (README "HTTP service"): requests/s and latency percentiles.

Starts the server with the pipeline's model on a loopback port, then for single-item requests
and 64-item batches at concurrency 1 and 32 sends a fixed number of requests from an asyncio
httpx client in this process (which shares the machine's cores with the server), and writes
reports/serve_load.json.

    python benchmarks/serve_load.py [--workers 1] [--requests 400]
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_case(url: str, texts: list[str], batch: int, concurrency: int, requests: int) -> dict:
    bodies = [
        json.dumps({"items": [{"text": texts[(i * batch + j) % len(texts)]} for j in range(batch)]}).encode()
        for i in range(requests)
    ]
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker():
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    f"{url}/v1/predict", content=body, headers={"Content-Type": "application/json"}
                )
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "batch": batch,
        "concurrency": concurrency,
        "requests": requests,
        "errors": errors,
        "requests_per_s": round(requests / wall, 1),
        "comments_per_s": round(requests * batch / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", default="reports/serve_load.json")
    args = parser.parse_args()
    texts = pd.read_json("data/processed/test.jsonl", lines=True).text.tolist()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "triage"), "serve", "--port", str(port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.5)
        time.sleep(2 * args.workers)  # every worker warms up
        cases = []
        for batch in (1, 64):
            for concurrency in (1, 32):
                n = args.requests if batch == 1 else max(args.requests // 8, 40)
                asyncio.run(run_case(url, texts, batch, concurrency, min(n, 50)))  # warm connections
                result = asyncio.run(run_case(url, texts, batch, concurrency, n))
                print(json.dumps(result))
                cases.append(result)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "client and server share the cores",
        "server": f"triage serve --workers {args.workers}, model artifacts/model",
        "cases": cases,
    }
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
