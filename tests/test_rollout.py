"""Roll-out without downtime: the service follows its model source (a registry alias, a
folder), swaps a new model in under load with no failed request, keeps the old model when the
new one is broken, and every response names the version that scored it."""

import dataclasses
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from triage.models.artifact import MANIFEST, artifact_digest, save_model
from triage.serve.app import create_app
from triage.serve.cache import CACHE_SIZE_ENV, ScoreCache
from triage.serve.observability import LOGGER
from triage.serve.predictor import Predictor
from triage.serve.rollout import MODEL_POLL_ENV, poll_seconds_from_env
from triage.train.tracking import log_and_register

from tests.conftest import ServeProcess, app_in_thread

pytestmark = pytest.mark.slow
STRICT_THRESHOLD = 0.01
"""The troll threshold of the second model: most comments flip to troll, so answers differ."""


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def served(url: str) -> dict:
    return httpx.get(f"{url}/v1/model", timeout=10).json()


def predict(url: str, item: dict, client=httpx) -> httpx.Response:
    return client.post(f"{url}/v1/predict", json={"items": [item]}, timeout=30)


def metric(url: str, sample: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    [line] = [x for x in text.splitlines() if x.startswith(sample + " ")]
    return float(line.rsplit(" ", 1)[1])


def answer(prediction: dict) -> dict:
    """A response's prediction without the fields the request echoes."""
    return {k: v for k, v in prediction.items() if k not in ("id", "created_at")}


def expected(predictor: Predictor, text: str, item_id: str) -> dict:
    return json.loads(predictor.predict([text], ids=[item_id])[0].model_dump_json())


@pytest.fixture(scope="module")
def texts(sample_splits) -> list[str]:
    return sample_splits["test"].text.tolist()[:100]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def service_log():
    handler, logger = Records(), logging.getLogger(LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_poll_interval_setting(monkeypatch):
    monkeypatch.delenv(MODEL_POLL_ENV, raising=False)
    assert poll_seconds_from_env() == 30
    monkeypatch.setenv(MODEL_POLL_ENV, "0.5")
    assert poll_seconds_from_env() == 0.5
    for bad in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv(MODEL_POLL_ENV, bad)
        with pytest.raises(ValueError, match=MODEL_POLL_ENV):
            poll_seconds_from_env()


def test_a_new_model_in_the_folder_is_swapped_in_and_the_cache_starts_afresh(fitted_model, texts, tmp_path):
    folder = save_model(dataclasses.replace(fitted_model, version="5"), tmp_path / "model")
    app = create_app(Predictor.load(folder, cache=ScoreCache(100)), source=str(folder), poll_seconds=0.1)
    item = {"id": "x", "text": texts[0]}
    with app_in_thread(app) as url:
        first = predict(url, item).json()
        assert predict(url, item).json() == first  # the second answer came from the cache
        assert first["model"]["version"] == "5" and served(url)["digest"] == artifact_digest(folder)
        old_digest = artifact_digest(folder)
        save_model(dataclasses.replace(fitted_model, version="6", troll_threshold=STRICT_THRESHOLD), folder)
        wait_for(lambda: served(url)["version"] == "6", what="the new model")
        model = served(url)
        assert model["digest"] == artifact_digest(folder) != old_digest and model["kind"] == "tfidf_linear"
        after = predict(url, item).json()
        assert after["model"]["version"] == after["predictions"][0]["model"]["version"] == "6"
        new = Predictor.load(folder, cache=ScoreCache(0))
        assert answer(after["predictions"][0]) == expected(new, texts[0], "x")
        # the swap emptied the cache: the same text was scored again, by the new model
        assert metric(url, "triage_prediction_cache_hits_total") == 1
        assert metric(url, "triage_prediction_cache_misses_total") == 2
        assert metric(url, 'triage_model_reloads_total{result="success"}') == 1
        assert metric(url, 'triage_model_reloads_total{result="failure"}') == 0
        labels = f'digest="{artifact_digest(folder)}",name="triage",version="6"'
        assert metric(url, f"triage_model_serving{{{labels}}}") == 1
        assert metric(url, f'triage_model_serving{{digest="{old_digest}",name="triage",version="5"}}') == 0


def test_a_broken_model_in_the_folder_leaves_the_old_one_serving(fitted_model, texts, tmp_path, service_log):
    folder = save_model(dataclasses.replace(fitted_model, version="5"), tmp_path / "model")
    staging = save_model(
        dataclasses.replace(fitted_model, version="6", troll_threshold=STRICT_THRESHOLD), tmp_path / "staging"
    )
    data = staging / "classifier.npz"
    data.write_bytes(data.read_bytes()[:-1] + bytes([data.read_bytes()[-1] ^ 1]))  # one bit changed
    app = create_app(Predictor.load(folder), source=str(folder), poll_seconds=0.05)
    with app_in_thread(app) as url:
        for path in staging.iterdir():  # the data files first, the manifest last, as save_model does
            if path.name != MANIFEST:
                shutil.copy(path, folder / path.name)
        os.replace(staging / MANIFEST, folder / MANIFEST)
        wait_for(lambda: metric(url, 'triage_model_reloads_total{result="failure"}') == 1, what="the failure")
        time.sleep(0.5)  # ten more polls: the failed version is not retried, nothing more is logged
        failures = [r for r in service_log if r.getMessage().startswith("model reload failed")]
        assert len(failures) == 1
        assert "classifier.npz" in failures[0].reason and "sha256" in failures[0].reason
        assert failures[0].serving_version == "5"
        assert metric(url, 'triage_model_reloads_total{result="failure"}') == 1
        assert served(url)["version"] == "5"
        response = predict(url, {"text": texts[0]})
        assert response.status_code == 200 and response.json()["model"]["version"] == "5"


# --- the registry: the champion alias moves under load ----------------------------------------


@pytest.fixture(scope="module")
def registry(fitted_model, tmp_path_factory):
    """Model `triage` with three versions: 1 (the champion), 2 (another troll threshold) and 3,
    whose stored artifact has one changed byte."""
    root = tmp_path_factory.mktemp("rollout-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    experiment = mlflow.create_experiment("rollout", artifact_location=(root / "mlruns").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    folders = {}
    for version, threshold in (("1", fitted_model.troll_threshold), ("2", STRICT_THRESHOLD), ("3", 0.5)):
        stored_before = set((root / "mlruns").rglob("classifier.npz"))
        folders[version] = save_model(
            dataclasses.replace(fitted_model, troll_threshold=threshold), root / f"v{version}"
        )
        score = {"valid_all_cause_macro_f1": 0.5 if version == "1" else 0.1}  # only 1 becomes champion
        log_and_register(folders[version], "triage", {}, score, [], ["a", "b"])
    [stored] = set((root / "mlruns").rglob("classifier.npz")) - stored_before
    stored.write_bytes(stored.read_bytes()[:-1] + bytes([stored.read_bytes()[-1] ^ 1]))
    yield folders, uri
    del os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def alias_server(registry, tmp_path_factory):
    _, uri = registry
    server = ServeProcess(
        ["--model", "models:/triage@champion"],
        tmp_path_factory.mktemp("rollout-logs") / "server.log",
        # no score cache: every comment goes through the scoring queue (the folder test covers the cache)
        env={"MLFLOW_TRACKING_URI": uri, MODEL_POLL_ENV: "0.5", CACHE_SIZE_ENV: "0"},
    )
    yield server
    server.stop()


def test_moving_the_alias_under_load_swaps_with_no_failed_request(registry, alias_server, texts):
    """Sixteen clients send requests of 64 comments without pause: four batches of the scoring
    queue (256 comments each), so requests wait in the old model's queue when the swap happens.
    Each request's answers must be those of the version it names."""
    folders, _ = registry
    url = alias_server.url
    MlflowClient().set_registered_model_alias("triage", "champion", "1")
    wait_for(lambda: served(url)["version"] == "1", what="version 1")
    size = 64
    windows = [[(6 * s + m) % len(texts) for m in range(size)] for s in range(16)]
    bodies = [{"items": [{"id": f"t{j}", "text": texts[j]} for j in window]} for window in windows]
    direct = {v: Predictor.load(f"models:/triage/{v}", cache=ScoreCache(0)) for v in ("1", "2")}
    answers = {
        v: [
            [
                json.loads(p.model_dump_json())
                for p in direct[v].predict([texts[j] for j in w], ids=[f"t{j}" for j in w])
            ]
            for w in windows
        ]
        for v in direct
    }
    assert sum(a != b for a, b in zip(answers["1"][0], answers["2"][0], strict=True)) >= size // 4

    results: list[tuple[float, int, httpx.Response | Exception]] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = worker * 5
            while not stop.is_set():
                w, n = n % len(windows), n + 1
                started = time.monotonic()
                try:
                    results.append((started, w, client.post(f"{url}/v1/predict", json=bodies[w])))
                except httpx.HTTPError as exc:
                    results.append((started, w, exc))

    clients = [threading.Thread(target=load, args=(k,)) for k in range(16)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.5)
        moved = time.monotonic()
        MlflowClient().set_registered_model_alias("triage", "champion", "2")
        wait_for(lambda: served(url)["version"] == "2", what="version 2")
        swapped = time.monotonic()
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)

    failed = [r for _, _, r in results if not isinstance(r, httpx.Response) or r.status_code != 200]
    assert not failed, failed[:3]
    versions = []
    for started, w, response in results:
        body = response.json()
        version = body["model"]["version"]
        assert {p["model"]["version"] for p in body["predictions"]} == {version}
        assert [answer(p) for p in body["predictions"]] == answers[version][w]  # scored by that version
        versions.append((started, version))
    assert {v for started, v in versions if started < moved} == {"1"}
    assert {v for started, v in versions if started > swapped} == {"2"}
    assert sum(started > swapped for started, _ in versions) >= 10
    model = served(url)
    assert model["digest"] == artifact_digest(folders["2"])
    assert model["digest"] == MlflowClient().get_model_version("triage", "2").tags["artifact_sha256"]
    [swap] = [r for r in alias_server.log_records("model swapped") if r["version"] == "2"]
    assert swap["previous_version"] == "1" and swap["source"] == "models:/triage@champion"


def test_a_broken_version_keeps_the_old_one_serving_and_sighup_retries_it(registry, alias_server, texts):
    url = alias_server.url
    before = served(url)
    failures_before = metric(url, 'triage_model_reloads_total{result="failure"}')
    MlflowClient().set_registered_model_alias("triage", "champion", "3")
    try:
        wait_for(
            lambda: (
                len(alias_server.log_records("model reload failed; the previous model keeps serving")) == 1
            )
        )
        time.sleep(1.6)  # three more polls: the failed version is not retried
        [failure] = alias_server.log_records("model reload failed; the previous model keeps serving")
        assert failure["level"] == "error" and failure["target_version"] == "3"
        assert "sha256" in failure["reason"] and failure["serving_version"] == before["version"]
        assert metric(url, 'triage_model_reloads_total{result="failure"}') == failures_before + 1
        assert served(url) == before
        response = predict(url, {"text": texts[1]})
        assert response.status_code == 200 and response.json()["model"]["version"] == before["version"]
        alias_server.process.send_signal(signal.SIGHUP)  # retry at once, whatever polling says
        wait_for(lambda: metric(url, 'triage_model_reloads_total{result="failure"}') == failures_before + 2)
        assert len(alias_server.log_records("model reload failed; the previous model keeps serving")) == 2
        assert alias_server.process.poll() is None and served(url) == before
    finally:
        MlflowClient().set_registered_model_alias("triage", "champion", before["version"])
