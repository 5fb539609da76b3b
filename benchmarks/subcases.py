"""Sub-case accuracy per language and per sub-case: the patterns of configs/replies/<lang>.yaml
against the `subcase` labels of the corpus (wave 2), on one split (test by default).

The chooser is given the true cause, so this measures the sub-case patterns alone; an error of
the cause model is measured by `triage evaluate`. "No answer" (a tie or no match, so the generic
text) counts as wrong for accuracy and is reported separately as coverage.

    .venv/bin/python benchmarks/subcases.py [--split data/processed/test.jsonl] [--out reports/subcases.json]
"""

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from triage.serve.replies import SUBCASES, ReplyBook


def evaluate(rows: list[dict], book: ReplyBook) -> dict:
    per_lang: dict[str, Counter] = defaultdict(Counter)
    per_subcase: dict[tuple[str, str], Counter] = defaultdict(Counter)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        truth = row.get("subcase")
        if not truth or row.get("troll") or row["cause"] not in SUBCASES or row["lang"] not in book.choosers:
            continue
        chosen = book.choosers[row["lang"]].choose(row["cause"], row["text"])
        for counter in (per_lang[row["lang"]], per_subcase[(row["lang"], truth)]):
            counter["n"] += 1
            counter["correct"] += chosen == truth
            counter["answered"] += chosen is not None
        confusion[f"{row['lang']}:{truth}"][chosen or "generic"] += 1

    def summary(c: Counter) -> dict:
        n = c["n"]
        return {
            "n": n,
            "accuracy": round(c["correct"] / n, 3) if n else None,
            "coverage": round(c["answered"] / n, 3) if n else None,
            "precision_when_answered": round(c["correct"] / c["answered"], 3) if c["answered"] else None,
        }

    total = sum((c for c in per_lang.values()), Counter())
    return {
        "all": summary(total),
        "per_language": {lang: summary(c) for lang, c in sorted(per_lang.items())},
        "per_subcase": {
            lang: {s: summary(per_subcase[(lang, s)]) for names in SUBCASES.values() for s in names}
            for lang in sorted(per_lang)
        },
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", type=Path, default=Path("data/processed/test.jsonl"))
    parser.add_argument("--replies", type=Path, default=Path("configs/replies"))
    parser.add_argument("--out", type=Path, default=Path("reports/subcases.json"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.split.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = {"split": str(args.split), "method": "per-language patterns, true cause given", **evaluate(
        rows, ReplyBook.load(args.replies)
    )}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"all": report["all"], "per_language": report["per_language"]}, indent=1))


if __name__ == "__main__":
    main()
