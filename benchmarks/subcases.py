"""Sub-case accuracy per language and per sub-case, with the chooser given the true cause.

Measured on two sets of rows:
- `purpose_set`: the `split: test` rows of the sub-case set (`data/subcases/<lang>.jsonl`,
  20 per sub-case and language, written for this purpose; data/README.md);
- `corpus_test`: the corpus test split's wave-2 `subcase` labels (2-10 per cell), for comparison.

The chooser is given the true cause, so this measures the sub-case choice alone; an error of the
cause model is measured by `triage evaluate`. "No answer" (a tie or no match, so the generic
text) counts as wrong for accuracy and is reported separately as coverage.

`--select` first chooses the method by 5-fold cross-validation on training data only: the
candidates (the patterns of configs/replies/<lang>.yaml, learned choosers with a few settings,
patterns first with the learned chooser where no pattern matches) are scored on held-out folds
of the set's `train` rows, each learned chooser fitted on the corpus train split plus the other
folds. The set's test rows play no part in it. The winner is fitted on all training rows and
written beside the templates (`subcase_model.json`/`.npz`, with the method) unless the patterns
win, in which case the learned files are removed and the patterns stay.

    .venv/bin/python benchmarks/subcases.py [--select] [--out reports/subcases.json]
"""

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from triage.serve.replies import SUBCASES, ReplyBook
from triage.serve.replies.learned import MODEL_ARRAYS, MODEL_JSON, LearnedSubcases
from triage.serve.replies.subcases import METHODS, combined
from triage.train.corpus import corpus_files, load_corpus
from triage.train.subcase_fit import SubcaseFitConfig, fit_learned, training_rows
from triage.train.subcase_set import load_subcase_set

Choose = Callable[[str, str, str], str | None]
"""(lang, cause, text) -> sub-case, or None for the generic text."""

FOLDS = 5
SEED = 13
CONFIGS = {
    "char2-5+word1": SubcaseFitConfig(),
    "char2-5": SubcaseFitConfig(word_ngram_range=None),
    "char1-4+word1-2": SubcaseFitConfig(char_ngram_range=(1, 4), word_ngram_range=(1, 2)),
    "char2-5+word1, C=1": SubcaseFitConfig(c=1.0),
}
"""Learned settings tried by the cross-validation (chosen there, never on test rows)."""


def evaluate(rows: Sequence[dict[str, Any]], choose: Choose) -> dict[str, Any]:
    """Accuracy, coverage and precision per language and sub-case, and the confusions."""
    per_lang: dict[str, Counter] = defaultdict(Counter)
    per_subcase: dict[tuple[str, str], Counter] = defaultdict(Counter)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for row in training_rows(rows):
        truth = row["subcase"]
        chosen = choose(row["lang"], row["cause"], row["text"])
        for counter in (per_lang[row["lang"]], per_subcase[(row["lang"], truth)]):
            counter["n"] += 1
            counter["correct"] += chosen == truth
            counter["answered"] += chosen is not None
        confusion[f"{row['lang']}:{truth}"][chosen or "generic"] += 1

    def summary(c: Counter) -> dict[str, Any]:
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


def patterns_of(book: ReplyBook) -> Choose:
    return lambda lang, cause, text: book.choosers[lang].choose(cause, text)


def candidates(book: ReplyBook, learned: LearnedSubcases | None) -> dict[str, Choose]:
    """Every method of `METHODS` that can run with this learned chooser (patterns always can)."""

    def by(method: str) -> Choose:
        def choose(lang: str, cause: str, text: str) -> str | None:
            said = learned.choose(cause, text) if learned is not None else None
            return combined(method, book.choosers[lang], said, cause, text)

        return choose

    return {m: by(m) for m in METHODS if m == "patterns" or learned is not None}


def folds_of(rows: Sequence[dict[str, Any]], k: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold per row, stratified by language × sub-case (2 of each cell's 10 train rows per fold)."""
    rng = random.Random(seed)
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        cells[(row["lang"], row["subcase"])].append(i)
    fold = [0] * len(rows)
    for key in sorted(cells):
        members = cells[key]
        rng.shuffle(members)
        for position, i in enumerate(members):
            fold[i] = position % k
    return fold


def select(
    book: ReplyBook, corpus_train: list[dict[str, Any]], set_train: list[dict[str, Any]]
) -> dict[str, Any]:
    """Cross-validated accuracy of every candidate on held-out folds of the set's train rows."""
    fold = folds_of(set_train)
    correct: dict[str, Counter] = defaultdict(Counter)
    for k in range(FOLDS):
        held = [r for r, f in zip(set_train, fold, strict=True) if f == k]
        rest = [r for r, f in zip(set_train, fold, strict=True) if f != k]
        scored = {"patterns": patterns_of(book)}
        for name, config in CONFIGS.items():
            learned = fit_learned(corpus_train + rest, config)
            for method, choose in candidates(book, learned).items():
                if method != "patterns":
                    scored[f"{method} [{name}]"] = choose
        for label, choose in scored.items():
            for row in held:
                hit = choose(row["lang"], row["cause"], row["text"]) == row["subcase"]
                correct[label]["n"] += 1
                correct[label]["correct"] += hit
                correct[label][f"n:{row['lang']}"] += 1
                correct[label][f"correct:{row['lang']}"] += hit
        print(f"fold {k + 1}/{FOLDS} done", file=sys.stderr)
    table = {
        label: {
            "accuracy": round(c["correct"] / c["n"], 3),
            **{
                lang: round(c[f"correct:{lang}"] / c[f"n:{lang}"], 3)
                for lang in ("ru", "uk", "bg", "en")
                if c[f"n:{lang}"]
            },
        }
        for label, c in correct.items()
    }
    best = max(table, key=lambda label: (table[label]["accuracy"], label == "patterns"))
    return {
        "how": f"{FOLDS}-fold cross-validation on the sub-case set's train rows ({len(set_train)}), "
        f"learned choosers fitted on the corpus train split ({len(corpus_train)} rows with a sub-case) "
        "plus the other folds; the test rows play no part",
        "cross_validated_accuracy": table,
        "chosen": best,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", type=Path, default=Path("data/processed/test.jsonl"))
    parser.add_argument("--train-split", type=Path, default=Path("data/processed/train.jsonl"))
    parser.add_argument("--set", type=Path, default=Path("data/subcases"))
    parser.add_argument("--raw-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--replies", type=Path, default=Path("configs/replies"))
    parser.add_argument("--select", action="store_true", help="choose the method first (see above)")
    parser.add_argument("--out", type=Path, default=Path("reports/subcases.json"))
    args = parser.parse_args()
    subcase_set = load_subcase_set(args.set, load_corpus(corpus_files(args.raw_dir)).examples)
    if subcase_set.problems:
        problems = "\n".join(subcase_set.problems)
        sys.exit(f"the sub-case set is not valid (triage data check-subcases):\n{problems}")
    report: dict[str, Any] = {}
    if args.select:
        corpus_train = training_rows(read_jsonl(args.train_split))
        set_train = subcase_set.rows("train")
        selection = select(ReplyBook.load(args.replies), corpus_train, set_train)
        method, _, name = selection["chosen"].partition(" [")
        for stale in (MODEL_JSON, MODEL_ARRAYS):
            (args.replies / stale).unlink(missing_ok=True)
        if method != "patterns":
            config = CONFIGS[name.rstrip("]")]
            about = {"selection": selection["how"], "cross_validated": selection["cross_validated_accuracy"]}
            fit_learned(corpus_train + set_train, config, method, about).save(args.replies)
        report["selection"] = selection
    else:
        previous = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
        if "selection" in previous:
            report["selection"] = previous["selection"]
    book = ReplyBook.load(args.replies)
    shipped = book.subcase_method
    report["method"] = f"{shipped} (the reply book's chooser), true cause given"
    report["purpose_set"] = {"rows": f"{args.set}/*.jsonl, split test", **evaluate(
        subcase_set.rows("test"), book.choose_subcase
    )}  # fmt: skip
    report["corpus_test"] = {"rows": str(args.split), **evaluate(read_jsonl(args.split), book.choose_subcase)}
    if shipped != "patterns":
        report["patterns_for_comparison"] = {
            name: {"all": found["all"], **found["per_language"]}
            for name, found in (
                ("purpose_set", evaluate(subcase_set.rows("test"), patterns_of(book))),
                ("corpus_test", evaluate(read_jsonl(args.split), patterns_of(book))),
            )
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    brief = {
        k: {"all": report[k]["all"], **report[k]["per_language"]} for k in ("purpose_set", "corpus_test")
    }
    print(json.dumps(brief, indent=1))


if __name__ == "__main__":
    main()
