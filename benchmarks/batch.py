"""Throughput and peak memory of `triage batch` (in-process) and of the Spark engine in local mode.

Generates N comments by resampling the corpus (data/raw, with random ids and times), runs
`triage batch` in a fresh process per size and reads the child's peak RSS from
`resource.getrusage(RUSAGE_CHILDREN)`, so memory can be compared across sizes. Spark runs on
`local[2]` with the registered model (models:/triage@champion). Results: reports/batch.json.

    python benchmarks/batch.py                       # n = 1,000,000 (about 20 min at 900/s)
    python benchmarks/batch.py --n 100000 --n 20000 --spark-n 20000
"""

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
BIN = Path(sys.executable).parent


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted((PROJECT / "data" / "raw").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def generate(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    texts = corpus_texts()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            at = start + timedelta(seconds=rng.randrange(90 * 86400))
            row = {"id": f"c{i}", "text": rng.choice(texts), "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def bench_local(n: int, workdir: Path, chunk_size: int) -> dict:
    source = workdir / f"in-{n}.jsonl"
    generate(source, n)
    out = workdir / f"out-{n}.parquet"
    cmd = [str(BIN / "triage"), "batch", str(source), "-o", str(out), "--id-column", "id",
           "--time-column", "time", "--chunk-size", str(chunk_size), "--no-progress"]  # fmt: skip
    # Each size in its own python so ru_maxrss(children) is this run's peak alone.
    probe = [sys.executable, "-c", _PROBE, json.dumps(cmd)]
    result = json.loads(subprocess.run(probe, check=True, capture_output=True, text=True).stdout)
    return {"engine": "local", "n": n, "chunk_size": chunk_size, **result,
            "comments_per_s": round(n / result["seconds"], 1)}  # fmt: skip


_PROBE = """
import json, resource, subprocess, sys, time
cmd = json.loads(sys.argv[1])
t = time.perf_counter()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s = time.perf_counter() - t
print(json.dumps({"seconds": round(s, 2),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}))
"""


def bench_spark(n: int, workdir: Path, model: str) -> dict:
    from triage.serve.batch import Columns
    from triage.serve.spark import run_spark_batch, spark_session

    source = workdir / f"spark-in-{n}.jsonl"
    generate(source, n, seed=1)
    spark = spark_session("local[2]", shuffle_partitions=2)
    started = time.perf_counter()
    result = run_spark_batch(source, workdir / f"spark-out-{n}.parquet", Columns(id="id", time="time"),
                             model=model, spark=spark)  # fmt: skip
    seconds = time.perf_counter() - started
    spark.stop()
    return {"engine": "spark local[2]", "n": n, "scored": result.scored, "seconds": round(seconds, 2),
            "comments_per_s": round(n / seconds, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="sizes for triage batch (repeatable)")
    parser.add_argument("--spark-n", type=int, default=20_000, help="rows for the Spark run (0: skip)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--model", default="models:/triage@champion", help="model for the Spark engine")
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "batch.json")
    args = parser.parse_args()
    sizes = args.n or [1_000_000]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            runs.append(bench_local(n, Path(tmp), args.chunk_size))
            print(json.dumps(runs[-1]), flush=True)
        if args.spark_n:
            runs.append(bench_spark(args.spark_n, Path(tmp), args.model))
            print(json.dumps(runs[-1]), flush=True)
    report = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {platform.python_version()}, "
        f"{__import__('os').cpu_count()} cores",
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
