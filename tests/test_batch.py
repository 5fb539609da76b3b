"""`triage batch` (in-process engine): three formats, rejects, resume, stale-run protection."""

import csv
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from triage.cli import app
from triage.models.artifact import save_model
from triage.models.labels import CAUSES, SCORE_COLUMNS
from triage.models.pyfunc import OUTPUT_COLUMNS
from triage.serve import batch as batch_module
from triage.serve.batch import REPLY_COLUMNS, Columns, parts_dir, run_batch
from triage.serve.batch_io import BatchInputError
from triage.serve.predictor import Predictor
from typer.testing import CliRunner

from tests.conftest import write_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(fitted_model, tmp_path_factory):
    return save_model(fitted_model, tmp_path_factory.mktemp("batch-model"))


@pytest.fixture(scope="module")
def comments(corpus_examples):
    """60 corpus comments with ids and times."""
    rows = []
    for i, e in enumerate(corpus_examples[::60][:60]):
        rows.append({"cid": f"c{i}", "body": e.text, "at": f"2026-11-{1 + i % 20:02d}T{i % 24:02d}:15:00Z"})
    return rows


def read_output(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"cid": str})
    return pd.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])


def test_shared_score_columns_are_the_pyfunc_columns():
    assert list(SCORE_COLUMNS) == OUTPUT_COLUMNS
    assert not set(REPLY_COLUMNS) & set(SCORE_COLUMNS)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_batch_scores_every_format_like_the_predictor(fmt, comments, model_dir, tmp_path):
    source = tmp_path / f"in.{fmt}"
    frame = pd.DataFrame(comments)
    if fmt == "jsonl":
        write_jsonl(source, comments)
    elif fmt == "csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source)
    out = tmp_path / "out.parquet"
    columns = Columns(text="body", id="cid", time="at")
    result = run_batch(source, out, columns, model=str(model_dir), chunk_size=7, progress=False)
    assert (result.scored, result.rejected, result.chunks) == (60, 0, 9)
    assert not parts_dir(out).exists() and result.rejects is None
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["cid", "body", "at", "time", *SCORE_COLUMNS, *REPLY_COLUMNS]
    assert scored["cid"].tolist() == [c["cid"] for c in comments]
    assert scored["time"].tolist() == [c["at"] for c in comments]
    predictor = Predictor.load(model_dir)
    expected = []  # replies avoid repeating a wording within one call, so score in the same chunks
    for start in range(0, 60, 7):
        part = frame.iloc[start : start + 7]
        expected += predictor.predict(
            part["body"].tolist(), ids=part["cid"].tolist(), created_at=part["at"].tolist()
        )
    assert scored["cause"].tolist() == [p.cause for p in expected]
    assert scored["priority"].tolist() == [p.priority for p in expected]
    assert pq.read_table(out).column("respond_by").to_pylist() == [p.respond_by for p in expected]
    assert scored.loc[scored["action"] != "do_not_engage", "respond_by"].notna().all()
    assert scored["lang"].tolist() == [p.lang for p in expected]
    assert pq.read_table(out).column("reply").to_pylist() == [p.reply for p in expected]
    assert scored["troll_score"].tolist() == pytest.approx([p.troll_score for p in expected], abs=1e-12)
    for cause in CAUSES:
        assert scored[f"score_{cause}"].tolist() == pytest.approx(
            [p.cause_scores[cause] for p in expected], abs=1e-12
        )


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_output_format_follows_the_suffix(suffix, comments, model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", comments[:10])
    out = tmp_path / f"out.{suffix}"
    run_batch(source, out, Columns(text="body", id="cid"), model=str(model_dir), progress=False)
    scored = read_output(out)
    assert len(scored) == 10 and scored["cid"].astype(str).tolist() == [c["cid"] for c in comments[:10]]
    assert set(scored["cause"]) <= set(CAUSES)
    assert scored["troll"].map(lambda v: v in (True, False)).all()
    if suffix == "csv":  # replies hold line breaks: the CSV must quote them, not split rows
        with out.open(newline="", encoding="utf-8") as handle:
            assert sum(1 for _ in csv.reader(handle)) == 11


def test_malformed_rows_go_to_rejects_with_line_and_reason(model_dir, tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"text": "The app logs me out every time", "id": 1, "t": "2026-11-01T10:00:00Z"},
            '{"text": ',
            {"text": "   ", "t": "2026-11-01T10:00:00Z"},
            {"text": 42, "t": "2026-11-01T10:00:00Z"},
            "",
            {"text": "Цены опять подняли", "t": "вчера"},
            {"text": "Дякую, все прийшло вчасно!", "t": None},
            {"text": "x" * 5001, "t": "2026-11-01T10:00:00Z"},
            ["not", "an", "object"],
            {"text": "Благодаря, всичко е наред", "id": "b", "t": "2026-11-02 09:30"},
        ],
    )
    out = tmp_path / "scored.jsonl"
    result = runner.invoke(
        app,
        ["batch", str(source), "-o", str(out), "--model", str(model_dir), "--time-column", "t",
         "--chunk-size", "3", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = read_output(out)
    assert scored["text"].tolist() == ["The app logs me out every time", "Благодаря, всичко е наред"]
    assert scored["id"].tolist() == ["1", "b"]  # JSON values other than strings are kept as JSON text
    assert scored["time"].tolist() == ["2026-11-01T10:00:00Z", "2026-11-02T09:30:00Z"]
    rejects = [json.loads(x) for x in (tmp_path / "scored.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4, 6, 7, 8, 9]
    reasons = [r["reason"] for r in rejects]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1:] == [
        "text: empty or whitespace only",
        "text: expected a string, got int",
        "t: not an ISO 8601 timestamp: 'вчера'",
        "t: missing",
        "text: longer than 5000 characters (5001)",
        "expected a JSON object, got list",
    ]
    assert rejects[3]["record"] == json.dumps(
        {"text": "Цены опять подняли", "t": "вчера"}, ensure_ascii=False
    )
    assert "line 2: invalid JSON" in result.stderr and "7 row(s) rejected" in result.stderr


def test_csv_rejects_rows_with_the_wrong_number_of_fields_and_keeps_quoted_newlines(model_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(
        'id,text\n1,"first line\nsecond line of the same comment"\n2,too,many\n3,Цены опять подняли\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = run_batch(source, out, Columns(id="id"), model=str(model_dir), progress=False)
    assert (result.scored, result.rejected) == (2, 1)
    scored = pd.read_csv(out)
    assert scored["text"].tolist() == ["first line\nsecond line of the same comment", "Цены опять подняли"]
    (reject,) = [json.loads(x) for x in result.rejects.read_text().splitlines()]
    assert reject == {
        "row": 2,
        "line": 4,
        "reason": "expected 2 fields, got 3",
        "record": ["2", "too", "many"],
    }


def test_missing_text_column_and_colliding_columns_are_user_errors(model_dir, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"body": ["hello there"]}).to_csv(source, index=False)
    result = runner.invoke(
        app, ["batch", str(source), "-o", str(tmp_path / "o.csv"), "--model", str(model_dir)]
    )
    assert result.exit_code == 1 and "no column 'text'" in result.stderr
    scored = tmp_path / "scored.parquet"
    pd.DataFrame({"text": ["the app crashes"], "cause": ["defect"]}).to_parquet(scored)
    again = runner.invoke(
        app, ["batch", str(scored), "-o", str(tmp_path / "o2.parquet"), "--model", str(model_dir)]
    )
    assert again.exit_code == 1 and "column(s) cause would be overwritten" in again.stderr


def test_interrupted_run_resumes_and_matches_a_clean_run(comments, model_dir, tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", comments)
    columns = Columns(text="body", id="cid", time="at")
    clean = tmp_path / "clean.parquet"
    run_batch(source, clean, columns, model=str(model_dir), chunk_size=10, progress=False)

    out = tmp_path / "out.parquet"
    real = batch_module._score_chunk
    scored_chunks = []

    def crash_on_third(predictor, chunk, *args):
        if chunk.index == 2:
            raise KeyboardInterrupt
        scored_chunks.append(chunk.index)
        return real(predictor, chunk, *args)

    monkeypatch.setattr(batch_module, "_score_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_batch(source, out, columns, model=str(model_dir), chunk_size=10, progress=False)
    assert sorted(p.name for p in parts_dir(out).glob("part-*")) == [
        "part-000000.parquet",
        "part-000001.parquet",
    ]
    assert not out.exists()

    scored_chunks.clear()
    monkeypatch.setattr(
        batch_module, "_score_chunk", lambda *a: (scored_chunks.append(a[1].index), real(*a))[1]
    )
    result = run_batch(source, out, columns, model=str(model_dir), chunk_size=10, progress=False)
    assert scored_chunks == [2, 3, 4, 5] and result.skipped_chunks == 2 and result.scored == 60
    assert pq.read_table(out).equals(pq.read_table(clean))


def test_changed_input_or_model_does_not_resume_onto_stale_parts(comments, model_dir, fitted_model, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", comments)
    out = tmp_path / "out.parquet"
    columns = Columns(text="body")

    def leave_partial_run() -> None:
        fingerprint = batch_module.model_fingerprint(str(model_dir))
        manifest = batch_module._run_manifest(source, "jsonl", columns, 10, fingerprint, None)
        batch_module.prepare_parts(parts_dir(out), manifest, restart=False)
        pq.write_table(pa.table({"body": ["stale"]}), parts_dir(out) / "part-000000.parquet")

    leave_partial_run()
    write_jsonl(source, comments[:30])
    with pytest.raises(BatchInputError, match="different input;"):
        run_batch(source, out, columns, model=str(model_dir), chunk_size=10, progress=False)
    result = run_batch(
        source, out, columns, model=str(model_dir), chunk_size=10, progress=False, restart=True
    )
    assert result.skipped_chunks == 0 and result.scored == 30
    assert "stale" not in pd.read_parquet(out)["body"].tolist()

    leave_partial_run()
    other_model = save_model(fitted_model, tmp_path / "other-model", {"created": "another training"})
    with pytest.raises(BatchInputError, match="different model;"):
        run_batch(source, out, columns, model=str(other_model), chunk_size=10, progress=False)


def test_batch_and_monitor_import_neither_train_nor_pyspark():
    import subprocess
    import sys

    code = (
        "import sys, triage.cli, triage.serve.batch, triage.monitor.report, triage.serve.spark\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('triage.train', 'pyspark')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
