"""Split stratification, leakage, variants, near-duplicates and the prepare stage's outputs."""

import json
from collections import Counter

import pandas as pd
import pytest
from triage.train.corpus import CorpusError, Example
from triage.train.neardup import near_duplicates
from triage.train.prepare import SPLITS, SplitSettings, count_table, prepare, split_examples

from tests.conftest import write_jsonl


def make(i: int, lang="ru", cause="defect", troll=False, **kw) -> Example:
    return Example(
        text=kw.pop("text", f"comment number {i} about {cause}"),
        lang=lang,
        cause=cause,
        troll=troll,
        id=f"e{i}",
        source=kw.pop("source", "handwritten"),
        parent=kw.pop("parent", None),
        file="f.jsonl",
        line=i,
    )


def test_split_is_stratified_by_lang_cause_troll(sample_examples):
    splits = split_examples(sample_examples, SplitSettings(seed=1))
    total = Counter((e.lang, e.cause, e.troll) for e in sample_examples)
    for name, fraction in (("valid", 0.15), ("test", 0.15)):
        got = Counter((e.lang, e.cause, e.troll) for e in splits[name])
        for cell, n in total.items():
            assert abs(got[cell] - n * fraction) <= 1.0, (name, cell, got[cell], n)


def test_every_example_in_exactly_one_split_and_deterministic(sample_examples):
    first = split_examples(sample_examples, SplitSettings(seed=5))
    again = split_examples(sample_examples, SplitSettings(seed=5))
    other = split_examples(sample_examples, SplitSettings(seed=6))
    ids = [e.id for name in SPLITS for e in first[name]]
    assert sorted(ids) == sorted(e.id for e in sample_examples)
    assert len(set(ids)) == len(ids)
    assert {n: [e.id for e in r] for n, r in first.items()} == {
        n: [e.id for e in r] for n, r in again.items()
    }
    assert [e.id for e in first["test"]] != [e.id for e in other["test"]]


def test_no_text_leaks_between_splits(sample_examples):
    splits = split_examples(sample_examples, SplitSettings(seed=2))
    texts = {name: {e.text.casefold() for e in rows} for name, rows in splits.items()}
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["valid"]
    assert not texts["valid"] & texts["test"]


def test_augmented_variants_stay_in_train_with_their_parent():
    examples = [make(i) for i in range(40)]
    examples += [make(100 + i, text=f"variant {i}", source="augmented", parent=f"e{i}") for i in range(10)]
    splits = split_examples(examples, SplitSettings(seed=0, valid_fraction=0.3, test_fraction=0.3))
    train_ids = {e.id for e in splits["train"]}
    for i in range(10):
        assert {f"e{i}", f"e{100 + i}"} <= train_ids
    held_out = splits["valid"] + splits["test"]
    assert held_out and not any(e.is_augmented for e in held_out)


def test_near_duplicates_land_in_the_same_split():
    base = "Интернет пропадает каждый вечер уже неделю, роутер перезагружал"
    examples = [make(i, text=f"{base} {i}") for i in range(30)]
    pairs = near_duplicates([e.text for e in examples])
    assert pairs
    splits = split_examples(examples, SplitSettings(seed=0), pairs)
    assert sum(bool(rows) for rows in splits.values()) == 1


def test_near_duplicate_detection_threshold():
    texts = [
        "The courier was three days late and never called me",
        "The courier was three days late and never called me!!",
        "Great pizza, thanks a lot",
        "Цены опять подняли, это грабёж",
    ]
    pairs = near_duplicates(texts, threshold=0.6)
    assert [(p.first, p.second) for p in pairs] == [(0, 1)]
    assert pairs[0].similarity == pytest.approx(1.0)
    assert near_duplicates(texts[2:], threshold=0.6) == []


def test_count_table_lists_every_cell():
    examples = [make(i) for i in range(3)]
    table = count_table({"train": examples, "valid": [], "test": []})
    assert len(table) == 3 * 4 * 7 * 2
    cell = table[(table.split == "train") & (table.lang == "ru") & (table.cause == "defect")]
    assert cell.set_index("troll")["count"].to_dict() == {False: 3, True: 0}


def test_prepare_fails_with_every_problem_unless_rejects_allowed(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = [
        {"text": f"Comment {i} {c}", "lang": "en", "cause": c, "troll": False}
        for i in range(6)
        for c in ("defect", "none")
    ]
    write_jsonl(raw / "a.jsonl", [*good, '{"text": 1}', {"text": "x", "lang": "fr"}])
    with pytest.raises(CorpusError) as caught:
        prepare(raw, tmp_path / "out", tmp_path / "counts.csv", SplitSettings())
    assert "a.jsonl:13" in str(caught.value) and "a.jsonl:14" in str(caught.value)
    assert not (tmp_path / "out").exists()

    result = prepare(raw, tmp_path / "out", tmp_path / "counts.csv", SplitSettings(), True)
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [13, 14]
    assert all(r["reasons"] and "raw" in r for r in rejects)
    written = sum(len((tmp_path / "out" / f"{s}.jsonl").read_text().splitlines()) for s in SPLITS)
    assert written == len(good) == sum(len(v) for v in result.splits.values())
    counts = pd.read_csv(tmp_path / "counts.csv")
    assert counts["count"].sum() == len(good)
