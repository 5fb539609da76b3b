"""Hostile input files: inputs are never lost, one bad row never stops a run, no tracebacks."""

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest
from triage.cli import app
from triage.models.artifact import save_model
from triage.serve import batch as batch_module
from triage.serve.batch import Columns, parts_dir, run_batch
from triage.train.corpus import load_corpus
from typer.testing import CliRunner

from tests.conftest import BOM, DEEP, HUGE_INT, write_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(fitted_model, tmp_path_factory):
    return save_model(fitted_model, tmp_path_factory.mktemp("hostile-input-model"))


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


# --- predict: inputs are never lost --------------------------------------------------------


def test_predict_refuses_to_write_over_its_input_also_through_links(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "x.jsonl", [{"text": "The parcel never arrived"}])
    original = source.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    for target in ("x.jsonl", "link.jsonl", "hard.jsonl", "./x.jsonl"):
        result = runner.invoke(
            app, ["predict", str(source), "-o", str(tmp_path / target), "--model", str(model_dir)]
        )
        assert result.exit_code == 1 and "is the input file" in result.stderr, result.output
        _no_traceback(result)
        assert source.read_bytes() == original


def test_predict_rejects_keep_the_rejected_line_with_its_number_and_reason(model_dir, tmp_path):
    bad = '{"text": "   ", "id": "b"}'
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "Great, thanks"}, bad])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(source), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    [reject] = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert reject["line"] == 2 and reject["record"] == bad and "whitespace" in reject["reason"]


def test_predict_into_a_missing_folder_creates_it(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "The app crashes at checkout"}])
    out = tmp_path / "new" / "deeper" / "out.jsonl"
    result = runner.invoke(app, ["predict", str(source), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1


def test_predict_accepts_a_byte_order_mark_and_rejects_hostile_lines(model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [
        BOM + json.dumps({"text": "first row after a BOM"}),
        '{"text": "big id", "id": ' + HUGE_INT + "}",
        '{"text": "deep", "x": ' + DEEP + "}",
        '{"text": "id beyond 64 bits", "id": 18446744073709551616}',
        '{"text": "overwrites", "cause": "defect"}',
        json.dumps({"text": "last good row"}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(source), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    _no_traceback(result)
    scored = [json.loads(x)["text"] for x in out.read_text().splitlines()]
    assert scored == ["first row after a BOM", "last good row"]
    rejects = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4, 5]
    assert "64 bits" in rejects[2]["reason"] and "cause would be overwritten" in rejects[3]["reason"]


# --- batch: one bad row never stops a run ---------------------------------------------------


def test_batch_sends_hostile_jsonl_rows_to_the_rejects_and_goes_on(model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [
        BOM + json.dumps({"text": "first row after a BOM", "id": "a"}),
        '{"text": "big", "id": ' + HUGE_INT + "}",
        '{"text": "deep", "x": ' + DEEP + "}",
        json.dumps({"text": "names a field like an output", "lang": "de"}),
        json.dumps({"text": "still scored", "id": "e"}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["batch", str(source), "-o", str(out), "--model", str(model_dir), "--id-column", "id"]
    )
    assert result.exit_code == 0, result.output
    _no_traceback(result)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "e"]
    rejects = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4]
    assert "4300 digits" in rejects[0]["reason"] or "integer" in rejects[0]["reason"]
    assert "nested too deeply" in rejects[1]["reason"]
    assert "lang would be overwritten" in rejects[2]["reason"]


def test_batch_rejects_a_200_kb_csv_field_and_goes_on(model_dir, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["short and fine", "я" * 200_000, "also fine"], "id": ["a", "b", "c"]}).to_csv(
        source, index=False
    )
    out = tmp_path / "out.csv"
    result = run_batch(source, out, Columns(id="id"), model=str(model_dir), progress=False)
    assert result.scored == 2 and result.rejected == 1
    [reject] = [json.loads(x) for x in result.rejects.read_text().splitlines()]
    assert reject["line"] == 3 and "longer than" in reject["reason"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_batch_refuses_an_input_column_named_like_an_output_field_in_one_line(model_dir, tmp_path, fmt):
    frame = pd.DataFrame({"text": ["the app crashes"], "troll_score": [0.3]})
    source = tmp_path / f"in.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source)
    result = runner.invoke(
        app, ["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--model", str(model_dir)]
    )
    assert result.exit_code == 1 and "column(s) troll_score would be overwritten" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists() and not parts_dir(tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "content"), [("empty.jsonl", ""), ("empty.csv", ""), ("header.csv", "text,id\n")]
)
def test_batch_on_an_empty_or_header_only_input_says_so_in_one_line(model_dir, tmp_path, name, content):
    source = tmp_path / name
    source.write_text(content)
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["batch", str(source), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 1 and "no rows to score" in result.stderr, result.output
    assert "schema" not in result.stderr and not parts_dir(out).exists()


@pytest.mark.parametrize("stage", ["part", "assemble"])
def test_a_full_disk_is_one_line_leaves_no_tmp_and_the_run_resumes(model_dir, tmp_path, monkeypatch, stage):
    rows = [{"text": f"The courier was late again, order {i}", "id": str(i)} for i in range(30)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    real = batch_module._write_atomic
    calls = {"n": 0}

    def full_disk(path, data, write=None):
        calls["n"] += 1
        failing = path.name.startswith("part-000001") if stage == "part" else path == out
        if failing:

            def no_space(tmp, content):
                tmp.write_bytes(b"partial")
                raise OSError(28, "No space left on device")

            return real(path, data, no_space)
        return real(path, data, write)

    monkeypatch.setattr(batch_module, "_write_atomic", full_disk)
    args = [
        "batch",
        str(source),
        "-o",
        str(out),
        "--model",
        str(model_dir),
        "--chunk-size",
        "10",
        "--id-column",
        "id",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "No space left on device" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.tmp")) and not out.exists()
    monkeypatch.setattr(batch_module, "_write_atomic", real)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "resumed" in again.stdout
    assert sorted(pq.read_table(out).column("id").to_pylist(), key=int) == [str(i) for i in range(30)]


# --- monitor and data check -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"), [("e.jsonl", ""), ("e.csv", ""), ("h.csv", "time,lang,cause,troll\n")]
)
def test_monitor_on_an_empty_input_says_so_in_one_line(tmp_path, name, content):
    source = tmp_path / name
    source.write_text(content)
    result = runner.invoke(
        app, ["monitor", str(source), "--json", str(tmp_path / "m.json"), "--html", str(tmp_path / "m.html")]
    )
    assert result.exit_code == 1 and "nothing to monitor" in result.stderr, result.output
    _no_traceback(result)


def test_monitor_reports_unknown_labels_instead_of_dropping_them(tmp_path):
    frame = pd.DataFrame(
        {
            "time": ["2026-11-01T10:00:00Z"] * 3 + ["2026-11-02T10:00:00Z"] * 2,
            "lang": ["ru", "en", "uk", "ru", "bg"],
            "cause": ["defect", "billing", "billing", "delivery", "defect"],
            "troll": [False] * 5,
        }
    )
    scored = tmp_path / "scored.parquet"
    frame.to_parquet(scored)
    out = tmp_path / "m.json"
    result = runner.invoke(
        app, ["monitor", str(scored), "--json", str(out), "--html", str(tmp_path / "m.html")]
    )
    assert result.exit_code == 0, result.output
    assert "billing (2)" in result.stderr and "delivery (1)" in result.stderr
    assert json.loads(out.read_text())["unknown_labels"] == {"billing": 2, "delivery": 1}


def test_data_check_reports_deep_nesting_huge_integers_and_accepts_a_bom(tmp_path):
    good = {"text": "Курьер опоздал на три дня", "lang": "ru", "cause": "after_sales", "troll": False}
    path = tmp_path / "c.jsonl"
    lines = [
        BOM + json.dumps(good, ensure_ascii=False),
        '{"text": "x", "lang": "ru", "cause": "defect", "troll": false, "n": ' + HUGE_INT + "}",
        '{"text": "x", "lang": "ru", "cause": "defect", "troll": false, "n": ' + DEEP + "}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_corpus([path])
    assert [e.line for e in loaded.examples] == [1]
    assert [(r.file, r.line) for r in loaded.rejects] == [(str(path), 2), (str(path), 3)]
    result = runner.invoke(app, ["data", "check", "--raw-dir", str(tmp_path)])
    assert result.exit_code == 1
    _no_traceback(result)
    assert f"{path}:2" in result.stdout and f"{path}:3" in result.stdout
