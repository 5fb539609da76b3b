"""The example behind the committed reports/monitor.{json,html}: a 90-day stream with one known rise.

Comments are resampled from the corpus (data/raw) at random times, about 440 a day; from day 60
on, extra comments drawn from the corpus's `price` complaints double the price volume. The
stream is scored by `triage batch` with the current model and then read by `triage monitor`,
so the page shows what the model and the test make of it (the labels are never used).

    python benchmarks/monitor_demo.py [--n 40000] [--rise-day 60]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAYS = 90


def corpus() -> list[dict]:
    rows = []
    for path in sorted((PROJECT / "data" / "raw").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def generate(path: Path, n: int, rise_day: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    rows = corpus()
    price = [r for r in rows if r["cause"] == "price" and not r["troll"]]
    share = len(price) / len(rows)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            day = rng.randrange(DAYS)
            pool = rows
            if day >= rise_day and rng.random() < share / (1 - share):  # price share doubles
                pool = price
            at = start + timedelta(days=day, seconds=rng.randrange(86400))
            record = {
                "id": f"d{i}",
                "text": rng.choice(pool)["text"],
                "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--rise-day", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stream, scored = Path(tmp) / "stream.jsonl", Path(tmp) / "scored.parquet"
        generate(stream, args.n, args.rise_day)
        subprocess.run([str(BIN / "triage"), "batch", str(stream), "-o", str(scored), "--id-column", "id",
                        "--time-column", "time", "--no-progress"], check=True, cwd=PROJECT)  # fmt: skip
        subprocess.run([str(BIN / "triage"), "monitor", str(scored)], check=True, cwd=PROJECT)


if __name__ == "__main__":
    main()
