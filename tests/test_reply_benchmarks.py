"""The sub-case benchmark and the reply-review harness run end to end on small inputs."""

import importlib.util
import json
import sys

from triage.serve.predictor import Predictor
from triage.serve.replies import ReplyBook

from tests.conftest import PROJECT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ROWS = [
    {"lang": "en", "cause": "price", "troll": False, "subcase": "unexpected_charge", "text": "charged twice"},
    {"lang": "en", "cause": "price", "troll": False, "subcase": "fees", "text": "hmm"},
    {"lang": "uk", "cause": "none", "troll": False, "subcase": "question", "text": "Чи працює роумінг?"},
    {"lang": "ru", "cause": "none", "troll": True, "text": "ерунда"},
]


def test_subcase_benchmark_counts_right_wrong_and_unanswered():
    bench = _load("subcases")
    report = bench.evaluate(ROWS, bench.patterns_of(ReplyBook.load(PROJECT / "configs" / "replies")))
    assert report["all"]["n"] == 3  # the troll row has no sub-case
    assert report["per_language"]["en"] == {
        "n": 2, "accuracy": 0.5, "coverage": 0.5, "precision_when_answered": 1.0
    }  # fmt: skip
    assert report["per_subcase"]["uk"]["question"]["accuracy"] == 1.0
    assert report["confusion"]["en:fees"] == {"generic": 1}


def test_subcase_folds_hold_out_every_cell_evenly():
    bench = _load("subcases")
    rows = [
        {"lang": lang, "cause": "none", "subcase": sub, "text": f"{lang} {sub} {i}"}
        for lang in ("ru", "en")
        for sub in ("praise", "question")
        for i in range(10)
    ]
    folds = bench.folds_of(rows)
    assert folds == bench.folds_of(rows)
    for k in range(bench.FOLDS):
        held = [r for r, f in zip(rows, folds, strict=True) if f == k]
        assert sorted((r["lang"], r["subcase"]) for r in held) == sorted(
            (lang, sub) for lang in ("ru", "en") for sub in ("praise", "question") for _ in range(2)
        )


def test_subcase_selection_scores_candidates_on_held_out_train_rows_only():
    bench = _load("subcases")
    book = ReplyBook.load(PROJECT / "configs" / "replies")
    words = {
        "delivery": "courier parcel late",
        "repair": "technician repair visit",
        "refund": "refund money back",
    }
    corpus = [
        {"lang": "en", "cause": "after_sales", "subcase": s, "text": f"{w} {i}", "troll": False}
        for s, w in words.items()
        for i in range(6)
    ]
    train = [
        {"lang": "en", "cause": "after_sales", "subcase": s, "text": f"the {w} again, case {i}"}
        for s, w in words.items()
        for i in range(10)
    ]
    selection = bench.select(book, corpus, train)
    table = selection["cross_validated_accuracy"]
    assert {"patterns", *(f"learned [{name}]" for name in bench.CONFIGS)} <= set(table)
    assert table[f"learned [{next(iter(bench.CONFIGS))}]"]["accuracy"] == 1.0
    assert table[selection["chosen"]]["accuracy"] == max(row["accuracy"] for row in table.values())


def test_reply_review_samples_wave_two_and_leaves_judgements_empty(fitted_model, tmp_path):
    review = _load("reply_review")
    rows = [
        {"id": f"{lang}{w}-{i}", "lang": lang, "text": f"comment {i}", "wave": w}
        for lang in ("ru", "uk", "bg", "en")
        for w in (1, 2)
        for i in range(10)
    ]
    picked = review.sample(rows, 6, seed=1)
    assert len(picked) == 24
    assert sum(r["wave"] == 2 for r in picked if r["lang"] == "bg") == 3
    assert picked == review.sample(rows, 6, seed=1)
    sheet = review.review_rows(Predictor(fitted_model), picked[:4])
    assert all(row[j] is None for row in sheet for j in review.JUDGEMENTS)
    assert {"comment", "predicted", "action", "reply", "priority"} <= set(sheet[0])
    page = review.markdown(sheet, "test-model")
    assert page.count("- [ ] action_right") == 4
    json.dumps(sheet, ensure_ascii=False)


def test_reply_review_totals_count_missing_judgements_apart():
    review = _load("reply_review")
    keys = ("lang", "reply", "action_right", "on_topic", "practice_followed", "postable")
    sheet = [
        dict(zip(keys, values, strict=True))
        for values in (
            ("en", "Sorry ...", True, True, False, True),
            ("en", "Hello ...", False, False, None, False),
            ("uk", None, True, None, None, None),
        )
    ]
    totals = review.totals(sheet)
    assert totals["en"]["action_right"] == 0.5 and totals["en"]["postable"] == 0.5
    assert totals["en"]["practice_followed"] == 0.0 and totals["en"]["practice_followed_missing"] == 1
    assert totals["uk"] == {**totals["uk"], "n": 1, "with_reply": 0, "action_right": 1.0, "postable": None}
    assert totals["all"]["n"] == 3 and totals["all"]["action_right"] == 0.667
