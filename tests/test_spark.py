"""`triage batch --engine spark` on a local Spark session equals the in-process engine: the same
scores and the same reply columns (action, sub-case, `priority`, `priority_score`, `respond_by`).

The model is logged and registered in a temporary MLflow registry exactly as the `train`
stage does, and Spark applies it through `mlflow.pyfunc.spark_udf`.
"""

import json
import os
import random

import mlflow
import pandas as pd
import pytest
from triage.cli import app
from triage.models.artifact import save_model
from triage.models.labels import SCORE_COLUMNS
from triage.models.transformer import THREADS_ENV
from triage.serve.batch import REPLY_COLUMNS, Columns, run_batch
from triage.serve.batch_io import BatchInputError
from triage.serve.spark import run_spark_batch, spark_session
from triage.train.tracking import log_and_register
from typer.testing import CliRunner

from tests.conftest import BOM, DEEP, HUGE_INT, write_jsonl

pytestmark = pytest.mark.slow
ROWS = 3000
runner = CliRunner()


@pytest.fixture(scope="module")
def registered(fitted_model, tmp_path_factory, sample_examples):
    root = tmp_path_factory.mktemp("spark-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("spark-test", artifact_location=(root / "mlruns").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    model_dir = save_model(fitted_model, root / "model")
    texts = [e.text for e in sample_examples[:3]]
    log_and_register(model_dir, "triage", {}, {"valid_all_cause_macro_f1": 0.5}, [], texts)
    yield "models:/triage@champion"
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()


def test_spark_python_workers_run_one_encoder_thread_per_task(spark):
    seen = spark.sparkContext.parallelize(range(4), 2).map(lambda _: os.environ.get(THREADS_ENV)).collect()
    assert seen == ["1"] * 4  # two tasks on two cores: threads on every core would fight


@pytest.fixture(scope="module")
def stream(corpus_examples, tmp_path_factory):
    """A few thousand resampled corpus comments and a handful of malformed rows."""
    rng = random.Random(11)
    rows = [
        {"id": f"c{i}", "text": rng.choice(corpus_examples).text, "at": f"2026-10-{1 + i % 28:02d}T08:00:00Z"}
        for i in range(ROWS)
    ]
    bad = [
        {"id": "bad-empty", "text": "  ", "at": "2026-10-01T08:00:00Z"},
        {"id": "bad-time", "text": "Цены опять подняли", "at": "позавчера"},
        {"id": "bad-missing", "at": "2026-10-01T08:00:00Z"},
    ]
    return write_jsonl(tmp_path_factory.mktemp("spark-in") / "in.jsonl", rows[:1000] + bad + rows[1000:])


def test_spark_engine_equals_the_in_process_engine(registered, spark, stream, tmp_path):
    columns = Columns(id="id", time="at")
    result = run_spark_batch(stream, tmp_path / "spark.parquet", columns, model=registered, spark=spark)
    assert (result.scored, result.rejected) == (ROWS, 3)
    rejects = [json.loads(line) for p in sorted(result.rejects.glob("part-*")) for line in p.open()]
    reasons = {json.loads(r["record"])["id"]: r["reason"] for r in rejects}
    assert reasons == {
        "bad-empty": "text: empty or whitespace only",
        "bad-time": "at: not an ISO 8601 timestamp",
        "bad-missing": "text: missing",
    }
    on_spark = pd.read_parquet(tmp_path / "spark.parquet").set_index("id").sort_index()

    local = run_batch(stream, tmp_path / "local.parquet", columns, model=registered, progress=False)
    assert (local.scored, local.rejected) == (ROWS, 3)
    in_process = pd.read_parquet(tmp_path / "local.parquet").set_index("id").sort_index()

    produced = ["time", *SCORE_COLUMNS, *REPLY_COLUMNS]  # after the input columns, in both engines
    assert in_process.columns.tolist() == ["text", "at", *produced]
    assert set(on_spark.columns[:2]) == {"text", "at"} and on_spark.columns[2:].tolist() == produced
    assert on_spark.index.tolist() == in_process.index.tolist()
    for column in ("text", "at", "time", "lang", "cause", "troll"):
        assert on_spark[column].tolist() == in_process[column].tolist(), column
    for column in [c for c in SCORE_COLUMNS if "score" in c]:
        assert on_spark[column].to_numpy() == pytest.approx(in_process[column].to_numpy(), abs=1e-9), column
    assert on_spark["cause"].nunique() >= 5 and on_spark["lang"].nunique() >= 4
    # The queue and the reply policy: the same functions on the same scores give the same answers.
    for column in ("action", "report", "reason", "subcase", "priority", "respond_by"):
        assert on_spark[column].tolist() == in_process[column].tolist(), column
    assert on_spark["priority_score"].to_numpy() == pytest.approx(in_process["priority_score"].to_numpy())
    assert set(on_spark["priority"]) >= {"high", "low"}
    assert on_spark["respond_by"].notna().sum() == (on_spark["troll"] == False).sum()  # noqa: E712
    # Only the wording may differ: no two consecutive replies share one, and Spark's rows come in
    # another order than the file's chunks.
    assert (on_spark["reply"].isna() == in_process["reply"].isna()).all()
    assert (on_spark["reply"] == in_process["reply"]).mean() > 0.5


def test_spark_engine_applies_company_settings_and_names(registered, spark, tmp_path):
    rows = [
        {
            "ref": 1,
            "who": "Олена",
            "body": "Списали гроші двічі за одну підписку, поверніть!!!",
            "at": "2026-11-24T09:30:00+02:00",
        },
        {
            "ref": 2,
            "who": "Tom",
            "body": "Does the roaming add-on work in Canada?",
            "at": "2026-11-24T09:30:00",
        },
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    columns = Columns(text="body", id="ref", time="at", name="who")
    settings = {
        "respond_within_minutes": {"urgent": 15, "high": 45, "normal": 120, "low": 600},
        "brand": "Zetta",
    }
    run_spark_batch(source, tmp_path / "out.jsonl", columns, model=registered, spark=spark, settings=settings)
    on_spark = pd.concat(
        pd.read_json(p, lines=True) for p in sorted((tmp_path / "out.jsonl").glob("part-*.json"))
    )
    on_spark = on_spark.set_index("ref").sort_index()
    run_batch(source, tmp_path / "local.jsonl", columns, model=registered, settings=settings, progress=False)
    local = pd.read_json(tmp_path / "local.jsonl", lines=True).set_index("ref").sort_index()
    for column in ("time", "action", "reply", "subcase", "priority", "priority_score", "respond_by"):
        assert on_spark[column].tolist() == local[column].tolist(), column
    windows = settings["respond_within_minutes"]
    for _, row in on_spark.iterrows():
        assert "Zetta" in row["reply"]
        posted = pd.Timestamp(row["time"])
        assert pd.Timestamp(row["respond_by"]) - posted == pd.Timedelta(minutes=windows[row["priority"]])
    assert on_spark.loc[1, "time"] == "2026-11-24T07:30:00Z"
    assert on_spark.loc[1, "reply"].startswith("Вітаємо, Олено!")  # the name column, in the vocative
    assert (on_spark.loc[1, "subcase"], on_spark.loc[2, "subcase"]) == ("unexpected_charge", "question")


def _rejects(result) -> list[dict]:
    return [json.loads(line) for p in sorted(result.rejects.glob("part-*")) for line in p.open()]


def test_spark_sends_hostile_jsonl_rows_to_the_rejects_with_their_line_and_goes_on(
    registered, spark, tmp_path
):
    """As the in-process engine: a BOM is not data, a field named like an output rejects its row only."""
    source = tmp_path / "in.jsonl"
    lines = [
        BOM + json.dumps({"text": "first row after a BOM", "id": "a"}),
        '{"text": "big", "id": ' + HUGE_INT + "}",
        "",
        '{"text": "deep", "x": ' + DEEP + "}",
        json.dumps({"text": "names a field like an output", "lang": "de"}),
        json.dumps({"text": "still scored", "id": "e", "priority": None}),
        json.dumps({"text": "scored too", "id": "f"}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_spark_batch(
        source, tmp_path / "out.parquet", Columns(id="id"), model=registered, spark=spark
    )
    assert (result.scored, result.rejected) == (2, 4)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert sorted(scored["id"]) == ["a", "f"] and scored.columns.tolist().count("lang") == 1
    rejects = sorted(_rejects(result), key=lambda r: r["line"])
    assert [(r["row"], r["line"]) for r in rejects] == [(2, 2), (3, 4), (4, 5), (5, 6)]
    assert rejects[2]["record"] == lines[4]
    assert rejects[2]["reason"] == "field(s) lang would be overwritten by the output; rename them"
    assert rejects[3]["reason"] == "field(s) priority would be overwritten by the output; rename them"


def test_spark_rejects_a_200_kb_csv_field_with_its_row_and_goes_on(registered, spark, tmp_path):
    source = tmp_path / "in.csv"
    texts = ["short and fine", "я" * 200_000, "also fine"]
    # `time` is an output column only with --time-column: without it, the input's own is kept.
    pd.DataFrame({"text": texts, "id": ["a", "b", "c"], "time": ["mon", "tue", "wed"]}).to_csv(
        source, index=False
    )
    out = tmp_path / "out.parquet"
    result = run_spark_batch(source, out, Columns(id="id"), model=registered, spark=spark)
    assert (result.scored, result.rejected) == (2, 1)
    [reject] = _rejects(result)
    assert reject["row"] == 2 and reject["reason"] == "text: longer than 5000 characters"
    assert sorted(pd.read_parquet(out)["time"]) == ["mon", "wed"]


@pytest.mark.parametrize(("fmt", "column"), [("csv", "troll_score"), ("parquet", "priority")])
def test_spark_refuses_an_input_column_named_like_an_output_field_as_the_local_engine_does(
    registered, spark, tmp_path, fmt, column
):
    frame = pd.DataFrame({"text": ["the app crashes"], column: ["x"]})
    source = tmp_path / f"in.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source)
    out = tmp_path / "o.parquet"
    args = ["batch", str(source), "-o", str(out), "--model", registered, "--engine", "spark"]
    result = runner.invoke(app, args)
    assert (
        result.exit_code == 1 and f"{source}: input column(s) {column} would be overwritten" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()
    with pytest.raises(BatchInputError) as local:
        run_batch(source, out, Columns(), model=registered, progress=False)
    assert f"error: {local.value}" == result.stderr.strip()


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.jsonl", ""), ("blank.jsonl", "\n \n"), ("empty.csv", ""), ("header.csv", "text,id\n")],
)
def test_spark_on_an_empty_or_header_only_input_says_so_in_one_line(
    registered, spark, tmp_path, name, content
):
    source = tmp_path / name
    source.write_text(content)
    out = tmp_path / "out.parquet"
    result = runner.invoke(
        app, ["batch", str(source), "-o", str(out), "--model", registered, "--engine", "spark"]
    )
    assert result.exit_code == 1, result.output
    assert (
        result.stderr.strip()
        == f"error: {source}: no rows to score (the file is empty or holds only a header)"
    )
    assert not out.exists()
