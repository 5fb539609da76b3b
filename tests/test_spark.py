"""`triage batch --engine spark` on a local Spark session equals the in-process engine.

The model is logged and registered in a temporary MLflow registry exactly as the `train`
stage does, and Spark applies it through `mlflow.pyfunc.spark_udf`.
"""

import json
import random

import mlflow
import pandas as pd
import pytest
from triage.models.artifact import save_model
from triage.models.labels import SCORE_COLUMNS
from triage.serve.batch import REPLY_COLUMNS, Columns, run_batch
from triage.serve.spark import run_spark_batch, spark_session
from triage.train.tracking import log_and_register

from tests.conftest import write_jsonl

pytestmark = pytest.mark.slow
ROWS = 3000


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

    shared = ["text", "at", "time", *SCORE_COLUMNS]
    assert set(on_spark.columns) == set(shared)
    assert [c for c in in_process.columns if c in shared] == shared
    assert set(in_process.columns) - set(shared) == set(REPLY_COLUMNS)
    assert list(on_spark.columns[-len(SCORE_COLUMNS) - 1 :]) == ["time", *SCORE_COLUMNS]
    assert on_spark.index.tolist() == in_process.index.tolist()
    for column in ("text", "at", "time", "lang", "cause", "troll"):
        assert on_spark[column].tolist() == in_process[column].tolist(), column
    for column in [c for c in SCORE_COLUMNS if "score" in c]:
        assert on_spark[column].to_numpy() == pytest.approx(in_process[column].to_numpy(), abs=1e-9), column
    assert on_spark["cause"].nunique() >= 5 and on_spark["lang"].nunique() >= 4
