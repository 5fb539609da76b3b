"""Throughput and peak memory of `triage batch` (in-process) and of the Spark engine in local mode,
for the default model and the TF-IDF model, fitted here, in one run (so the ratio is this machine's).

Generates N comments by resampling the test split (1,172 comments no model trained on, with
random ids and times), runs `triage batch` in a fresh process per case and reads the child's
peak RSS from `resource.getrusage(RUSAGE_CHILDREN)`, so memory can be compared across sizes.
Resampling repeats every text about N / 1,172 times, and `triage batch` keeps a score cache
(`TRIAGE_CACHE_SIZE`, 10,000 texts by default) that scores a repeated text once: the cached
cases measure a stream with that much repetition, the uncached cases (`TRIAGE_CACHE_SIZE=0`)
score every row and give the model's own rate. Spark scores every row (the pyfunc has no
cache); it runs on `local[2]` with local MLflow copies of both models. Results: reports/batch.json.

    python benchmarks/batch.py                       # 1,000,000 cached, 20,000 uncached, Spark 100,000
    python benchmarks/batch.py --n 100000 --uncached-n 5000 --spark-n 20000 --no-reference
    TRIAGE_ONNX_THREADS=2 python benchmarks/batch.py --n 0 --uncached-n 0 --spark-n 6000 --no-reference \
        --out reports/batch_spark_threads2.json        # the encoder's threads per Spark task
"""

import argparse
import json
import os
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

from reference_model import fit_saved, save_mlflow  # noqa: E402  (benchmarks/, beside this script)


def unseen_texts() -> list[str]:
    """The test split: comments no model saw in training. (Resampling the whole corpus, 70% of it
    training text, made the cascade's TF-IDF member confident far more often than on new text:
    the default scored 327 instead of about 120 comments a second.)"""
    rows = (PROJECT / "data" / "processed" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in rows if line.strip()]


def generate(path: Path, n: int, seed: int = 0) -> int:
    """Write n resampled comments; returns how many distinct texts they hold."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts = unseen_texts()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            at = start + timedelta(seconds=rng.randrange(90 * 86400))
            row = {"id": f"c{i}", "text": rng.choice(texts), "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            seen.add(row["text"])
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(seen)


def bench_local(
    label: str, model: Path, n: int, workdir: Path, chunk_size: int, cache_size: int | None
) -> dict:
    """`triage batch` on n resampled comments; cache_size None is the default cache."""
    source = workdir / f"in-{n}.jsonl"
    distinct_file = source.with_suffix(".distinct")
    if not source.exists():
        distinct_file.write_text(str(generate(source, n)))
    out = workdir / f"out-{n}.parquet"
    cmd = [str(BIN / "triage"), "batch", str(source), "-o", str(out), "--model", str(model), "--id-column",
           "id", "--time-column", "time", "--chunk-size", str(chunk_size), "--no-progress"]  # fmt: skip
    env = dict(os.environ)
    if cache_size is not None:
        env["TRIAGE_CACHE_SIZE"] = str(cache_size)
    # Each case in its own python so ru_maxrss(children) is this run's peak alone.
    probe = [sys.executable, "-c", _PROBE, json.dumps(cmd)]
    result = json.loads(subprocess.run(probe, check=True, capture_output=True, text=True, env=env).stdout)
    out.unlink()
    cache = "default (10,000 texts)" if cache_size is None else ("off" if cache_size == 0 else cache_size)
    return {"engine": "local", "model": label, "n": n, "distinct_texts": int(distinct_file.read_text()),
            "score_cache": cache, "chunk_size": chunk_size, **result,
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


def bench_spark(label: str, model_uri: str, n: int, workdir: Path) -> dict:
    from triage.serve.batch import Columns
    from triage.serve.spark import run_spark_batch, spark_session

    source = workdir / f"spark-in-{n}.jsonl"
    if not source.exists():
        generate(source, n, seed=1)
    spark = spark_session("local[2]", shuffle_partitions=2)
    started = time.perf_counter()
    output = workdir / f"spark-out-{n}-{label}.parquet"
    result = run_spark_batch(source, output, Columns(id="id", time="time"), model=model_uri, spark=spark)
    seconds = time.perf_counter() - started
    spark.stop()
    return {"engine": "spark local[2]", "model": label, "n": n, "scored": result.scored,
            "seconds": round(seconds, 2), "comments_per_s": round(n / seconds, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="sizes with the default cache (repeatable)")
    parser.add_argument("--uncached-n", type=int, default=20_000, help="rows, cache off (0: skip)")
    parser.add_argument("--spark-n", type=int, default=100_000, help="rows for the Spark runs (0: skip)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--model", type=Path, default=PROJECT / "artifacts" / "model", help="the default")
    parser.add_argument("--no-reference", action="store_true", help="skip the TF-IDF model")
    parser.add_argument("--out", type=Path, default=PROJECT / "reports" / "batch.json")
    args = parser.parse_args()
    sizes = [n for n in args.n or [1_000_000] if n > 0]  # --n 0: no in-process runs
    runs = []

    def record(run: dict) -> None:
        runs.append(run)
        print(json.dumps(run), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = {"default": args.model}
        if not args.no_reference:
            folders["tfidf"] = fit_saved(work / "tfidf")
        for label, folder in folders.items():
            for n in sizes:
                record(bench_local(label, folder, n, work, args.chunk_size, None))
            if args.uncached_n:
                record(bench_local(label, folder, args.uncached_n, work, args.chunk_size, 0))
        for label, folder in folders.items() if args.spark_n else ():
            # Spark loads MLflow models; a local copy runs this checkout's code, where a
            # registered version runs the copy of the package it was registered with.
            uri = str(save_mlflow(folder, work / f"{label}-mlflow"))
            record(bench_spark(label, uri, args.spark_n, work))
    report = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "models": {
            "default": str(args.model),
            "tfidf": "configs/linear.yaml, fitted in this run",
        },
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
