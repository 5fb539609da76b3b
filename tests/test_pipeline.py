"""End to end: `dvc repro` on a small copy of the corpus, the MLflow registry, `mlflow models serve`."""

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BIN, free_port, run

pytestmark = pytest.mark.slow


def test_repro_writes_metrics_matrices_and_errors(pipeline_copy):
    root, env = pipeline_copy
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    for scope in ("all", "ru", "uk", "bg", "en"):
        cause, troll = metrics[scope]["cause"], metrics[scope]["troll"]
        assert {"accuracy", "macro_f1", "per_class"} <= set(cause)
        assert {"precision", "recall", "f1", "roc_auc"} <= set(troll)
        for task in ("cause", "troll"):
            assert (root / "reports" / "confusion" / f"{task}_{scope}.png").exists()
            assert (root / "reports" / "confusion" / f"{task}_{scope}_normalized.csv").exists()
    assert metrics["all"]["cause"]["macro_f1"] > 0.4
    assert (root / "reports" / "errors.jsonl").exists()
    assert (root / "reports" / "plots" / "troll_pr.csv").exists()
    assert (root / "dvc.lock").exists()
    shown = run([str(BIN / "dvc"), "metrics", "show", "--json"], root, env)
    assert "metrics.json" in shown.stdout
    plots = run([str(BIN / "dvc"), "plots", "show", "-o", str(root / "plots_html")], root, env)
    assert (root / "plots_html" / "index.html").exists(), plots.stdout
    status = run([str(BIN / "dvc"), "status"], root, env)
    assert "up to date" in status.stdout


def test_repro_writes_the_html_report_and_the_model_card_and_logs_them(pipeline_copy, tmp_path):
    from mlflow import MlflowClient

    root, env = pipeline_copy
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    html = (root / "reports" / "index.html").read_text()
    assert f"{metrics['all']['cause']['macro_f1']:.3f}" in html
    lock = (root / "dvc.lock").read_text()
    assert metrics["data"]["data/raw"] in lock and metrics["data"]["data/raw"] in html
    assert metrics["model"]["sha256"] and metrics["model"]["mlflow_run_id"]
    card = (root / "reports" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: triage version 1")
    assert f"| all | {metrics['all']['cause']['n']} " in card
    assert "**Not measured for this version**" in card  # no benchmark run in this copy
    draft = (root / "artifacts" / "model" / "MODEL_CARD.md").read_text()
    assert "Not evaluated yet" in draft
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    run_id = metrics["model"]["mlflow_run_id"]
    logged = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/index.html", "evaluation/troll_pr.png", "evaluation/confusion"} <= logged
    card_path = client.download_artifacts(run_id, "model_card/MODEL_CARD.md", str(tmp_path))
    assert Path(card_path).read_text() == card  # evaluate replaced the draft in the run


def test_model_is_registered_and_champion_moves_only_on_improvement(pipeline_copy):
    from mlflow import MlflowClient

    root, env = pipeline_copy
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    manifest = json.loads((root / "artifacts" / "model" / "manifest.json").read_text())
    champion = client.get_model_version_by_alias("triage", "champion")
    assert str(champion.version) == manifest["version"] == "1"
    # Retrain the same data: equal score, so a new version is registered but is not champion.
    run([str(BIN / "dvc"), "repro", "-f", "train"], root, env, timeout=600)
    versions = client.search_model_versions("name='triage'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert str(client.get_model_version_by_alias("triage", "champion").version) == "1"
    run_data = client.get_run(champion.run_id).data
    assert "valid_all_cause_macro_f1" in run_data.metrics
    assert "test_all_cause_macro_f1" in run_data.metrics


def test_mlflow_models_serve_answers_with_the_champion(pipeline_copy):
    from triage.serve.predictor import Predictor

    root, env = pipeline_copy
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", "models:/triage@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()[-3000:]
                assert time.time() < deadline, "mlflow models serve did not start"
                time.sleep(1)
        texts = ["Курьер опять опоздал на два дня", "Great staff, thank you!"]
        body = json.dumps({"dataframe_records": [{"text": t} for t in texts]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())["predictions"]
        os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
        try:
            local = Predictor.load(str(root / "artifacts" / "model")).predict(texts)
        finally:
            del os.environ["MLFLOW_TRACKING_URI"]
        assert [a["cause"] for a in answer] == [p.cause for p in local]
        assert [a["troll_score"] for a in answer] == pytest.approx([p.troll_score for p in local])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_predictor_loads_the_registered_champion(pipeline_copy, monkeypatch):
    from triage.serve.predictor import Predictor

    root, env = pipeline_copy
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    registered = Predictor.load("models:/triage@champion")
    by_number = Predictor.load("models:/triage/1")
    local = Predictor.load(root / "artifacts" / "model")
    assert registered.info.version == by_number.info.version == "1"
    texts = ["Pizza came cold and two hours late", "Дякую, все чудово!", "ceni sa mnogo visoki"]
    # The local folder may hold a later retrain of the same data: same scores, other version.
    expected = [p.model_dump(exclude={"model"}) for p in local.predict(texts)]
    assert [p.model_dump(exclude={"model"}) for p in registered.predict(texts)] == expected
