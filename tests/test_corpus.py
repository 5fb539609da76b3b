"""Every validation rule of the corpus loader, and that all problems are reported at once."""

import json

import pytest
from triage.train.corpus import CorpusError, load_corpus

from tests.conftest import write_jsonl

GOOD = {"text": "Курьер опоздал на три дня", "lang": "ru", "cause": "after_sales", "troll": False}


def row(**changes):
    values = {**GOOD, **changes}
    return {k: v for k, v in values.items() if v is not ...}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "broken json", ', "bad JSON"),
        ("[1, 2]", "expected a JSON object"),
        (row(text=...), "missing field 'text'"),
        (row(lang=...), "missing field 'lang'"),
        (row(cause=...), "missing field 'cause'"),
        (row(troll=...), "missing field 'troll'"),
        (row(text=42), "'text'"),
        (row(lang="de"), "unknown lang 'de'"),
        (row(cause="delivery"), "unknown cause 'delivery'"),
        (row(troll="false"), "'troll' must be a JSON boolean"),
        (row(troll=0), "'troll' must be a JSON boolean"),
        (row(text=""), "empty 'text'"),
        (row(text=" \t\n "), "whitespace only"),
        (row(text="я" * 5001), "longer than 5000 characters"),
        (row(source="augmented"), "without 'parent'"),
    ],
)
def test_each_invalid_line_is_rejected_with_file_line_and_reason(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "c.jsonl", [row(text="Всё хорошо, спасибо"), line])
    result = load_corpus([path])
    assert len(result.examples) == 1
    [reject] = result.rejects
    assert (reject.file, reject.line) == (str(path), 2)
    assert any(reason in r for r in reject.reasons), reject.reasons
    assert reason in str(reject)


def test_invalid_utf8_line_is_rejected_and_others_kept(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"text": "\xff\xfe"}\n')
    result = load_corpus([path])
    assert len(result.examples) == 1
    assert result.rejects[0].line == 2 and "UTF-8" in result.rejects[0].reasons[0]


def test_duplicates_after_unicode_normalisation(tmp_path):
    composed = row(text="Заказ не пришёл")
    decomposed = row(text="Заказ  не  приш\u0435\u0308л ")  # е + combining diaeresis, extra spaces
    path = write_jsonl(tmp_path / "c.jsonl", [composed, decomposed])
    result = load_corpus([path])
    assert len(result.examples) == 1
    assert "duplicate of" in result.rejects[0].reasons[0]
    assert f"{path}:1" in result.rejects[0].reasons[0]


def test_conflicting_labels_reject_every_copy(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [row(cause="after_sales")])
    b = write_jsonl(tmp_path / "b.jsonl", [row(cause="defect")])
    result = load_corpus([a, b])
    assert result.examples == []
    assert len(result.rejects) == 2
    assert all("conflicting labels" in r.reasons[0] for r in result.rejects)


def test_duplicate_ids_and_orphan_variants(tmp_path):
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            row(id="x1", text="Первый текст"),
            row(id="x1", text="Второй текст"),
            row(id="v1", text="Pervyi tekst", source="augmented", parent="nope"),
        ],
    )
    result = load_corpus([path])
    reasons = [r.reasons[0] for r in result.rejects]
    assert any("duplicate id 'x1'" in r for r in reasons)
    assert any("parent 'nope'" in r for r in reasons)


def test_all_problems_reported_at_once(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [row(lang="xx"), "not json", row(troll="yes"), GOOD])
    result = load_corpus([path])
    assert [r.line for r in result.rejects] == [1, 2, 3]
    message = str(CorpusError(result.rejects))
    assert "3 invalid corpus line(s)" in message
    for line in (1, 2, 3):
        assert f"c.jsonl:{line}:" in message


def test_extra_fields_are_kept_and_text_is_normalised(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [row(text="  Cafe\u0301   closed ", note="x")])
    [example] = load_corpus([path]).examples
    assert example.text == "Café closed"
    assert example.extra == {"note": "x"}
