"""The sub-case set's check (`triage data check-subcases`): one line per problem naming file:line,
and the shipped set passes it (counts, no near-copies within it or of the corpus)."""

import json
import random
import string
from pathlib import Path

from triage.cli import app
from triage.serve.replies import SUBCASES
from triage.train.corpus import Example
from triage.train.subcase_set import load_subcase_set
from typer.testing import CliRunner

from tests.conftest import write_jsonl

runner = CliRunner()
FEW = {"train": 1, "test": 2}


def _text(rng: random.Random) -> str:
    """Random words: no two texts of a tiny set are near-copies of each other."""
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(7)) for _ in range(6))


def _rows(lang: str = "en") -> list[dict]:
    """A complete tiny set for one language: 1 train and 2 test rows per sub-case."""
    rows, number, rng = [], 0, random.Random(5)
    for cause, names in SUBCASES.items():
        for subcase in names:
            for split in ("train", "test", "test"):
                number += 1
                rows.append(
                    {
                        "id": f"sc-{lang}-{number:04d}",
                        "text": _text(rng),
                        "lang": lang,
                        "cause": cause,
                        "subcase": subcase,
                        "split": split,
                        "register": "social",
                        "industry": "telecom",
                    }
                )
    return rows


def _problems(folder: Path, corpus: list[Example] = ()) -> list[str]:
    return load_subcase_set(folder, corpus, min_per_split=FEW).problems


def test_a_complete_set_has_no_problems(tmp_path):
    write_jsonl(tmp_path / "en.jsonl", _rows())
    loaded = load_subcase_set(tmp_path, min_per_split=FEW)
    assert loaded.problems == []
    assert len(loaded.rows("test")) == 2 * len(loaded.rows("train")) == 26
    assert set(loaded.rows("train")[0]) == {"id", "text", "lang", "cause", "subcase", "split"}


def test_each_bad_line_is_one_line_with_file_and_line(tmp_path):
    rows = _rows()
    rows[0]["subcase"] = "outage"  # a defect sub-case under after_sales
    rows[1]["split"] = "valid"
    rows[2]["lang"] = "ru"
    del rows[3]["industry"]
    rows[4]["id"] = "sc-en-12"
    rows[5]["text"] = "   "
    lines: list = [*rows, "{not json", "[1, 2]"]
    path = write_jsonl(tmp_path / "en.jsonl", lines)
    problems = _problems(tmp_path)
    by_line = {int(p.split(":")[1]): p for p in problems if p.split(":")[1].isdigit()}
    assert "subcase 'outage' is not one of after_sales's" in by_line[1]
    assert "unknown split 'valid'" in by_line[2]
    assert "lang 'ru' in en.jsonl" in by_line[3] and "does not name its language" in by_line[3]
    assert "missing field 'industry'" in by_line[4]
    assert "'id'" in by_line[5]
    assert "whitespace only" in by_line[6]
    assert "bad JSON" in by_line[len(rows) + 1]
    assert "expected a JSON object, got list" in by_line[len(rows) + 2]
    assert all("\n" not in p for p in problems)
    # The rows rejected above leave their cells short of the counts asked for.
    assert f"{path}: after_sales/delivery has 0 train rows (at least 1 expected)" in problems


def test_duplicates_and_near_copies_of_the_set_or_the_corpus_are_problems(tmp_path):
    rows = _rows()
    rows[7]["id"] = rows[6]["id"]
    rows[9]["text"] = rows[8]["text"].upper()  # the same text after normalisation
    rows[11]["text"] = rows[10]["text"] + "!!"  # a near-copy
    path = write_jsonl(tmp_path / "en.jsonl", rows)
    corpus_text = rows[20]["text"]
    corpus = [
        Example(corpus_text, "en", "defect", False, "en3-1", "handwritten", None, "data/raw/en-3.jsonl", 5)
    ]
    problems = _problems(tmp_path, corpus)
    assert f"{path}:8: duplicate id {rows[6]['id']!r} (first at {path}:7)" in problems
    assert f"{path}:10: same text as {path}:9 (after Unicode normalisation)" in problems
    assert any(p.startswith(f"{path}:11: near-duplicate of {path}:12 (J=") for p in problems)
    assert f"{path}:21: same text as data/raw/en-3.jsonl:5 (after Unicode normalisation)" in problems


def test_files_must_be_one_language_each(tmp_path):
    write_jsonl(tmp_path / "en.jsonl", _rows())
    write_jsonl(tmp_path / "english.jsonl", _rows())
    assert _problems(tmp_path) == [
        f"{tmp_path / 'english.jsonl'}: unexpected file (expected ru.jsonl, uk.jsonl, bg.jsonl, en.jsonl)"
    ]
    assert load_subcase_set(tmp_path / "missing").problems == [f"{tmp_path / 'missing'}: no *.jsonl files"]


def test_cli_reports_problems_and_exits_1(tmp_path):
    rows = _rows()
    rows[0]["cause"] = "rudeness"
    write_jsonl(tmp_path / "en.jsonl", rows)
    result = runner.invoke(app, ["data", "check-subcases", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"invalid: {tmp_path / 'en.jsonl'}:1: unknown cause 'rudeness'" in result.output


def test_the_shipped_set_passes_its_check():
    """20 test and 10 train rows per sub-case and language, none a near-copy of the corpus."""
    result = runner.invoke(app, ["data", "check-subcases"])
    assert result.exit_code == 0, result.output
    assert "1560 valid rows in data/subcases (train 520, test 1040); 0 problem(s)" in result.output
    for lang in ("ru", "uk", "bg", "en"):
        lines = Path(f"data/subcases/{lang}.jsonl").read_text(encoding="utf-8").splitlines()
        assert {json.loads(line)["lang"] for line in lines} == {lang}
