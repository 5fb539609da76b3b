"""The command line: predict (text and file, malformed lines), evaluate --data, data check."""

import json

import pytest
from triage.cli import app
from triage.models.artifact import save_model
from triage.models.labels import CAUSES
from typer.testing import CliRunner

from tests.conftest import write_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(fitted_model, tmp_path_factory):
    return save_model(fitted_model, tmp_path_factory.mktemp("cli-model"))


def test_predict_text_prints_json(model_dir):
    result = runner.invoke(
        app, ["predict", "--model", str(model_dir), "--text", "Курьер опять опоздал на два дня"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cause"] in CAUSES and set(payload["cause_scores"]) == set(CAUSES)
    assert payload["lang"] == "ru"
    assert payload["action"] in {"reply", "human_review"} and payload["reply"]


def test_predict_text_with_created_at_gives_priority_and_respond_by(model_dir):
    args = ["predict", "--model", str(model_dir), "--text", "Курьер опять опоздал на два дня"]
    result = runner.invoke(app, [*args, "--created-at", "2026-11-24T09:30:00"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["priority"] in {"urgent", "high", "normal", "low"} and payload["priority_score"] > 0
    assert payload["respond_by"] > "2026-11-24T09:30:00Z"
    bad = runner.invoke(app, [*args, "--created-at", "yesterday"])
    assert bad.exit_code == 1 and "yesterday" in bad.stderr and "Traceback" not in bad.output


def test_predict_file_reports_bad_lines_and_scores_the_rest(model_dir, tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"text": "The app logs me out every time I open the cart", "id": "a", "name": "Ann"},
            '{"text": ',
            {"text": "   "},
            {"id": 3},
            {"text": "Дякую, все прийшло вчасно!", "id": 4, "channel": "facebook"},
        ],
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(source), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", 4]
    assert rows[0]["name"] == "Ann" and rows[1]["channel"] == "facebook"
    assert all(r["action"] in {"reply", "human_review", "do_not_engage"} for r in rows)
    assert rows[0]["reply"] is None or "Ann" in rows[0]["reply"]
    assert all("cause_scores" in r and "troll_score" in r for r in rows)
    for line in (2, 3, 4):
        assert f"in.jsonl:{line}:" in result.stderr
    rejects = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4]

    strict = runner.invoke(
        app, ["predict", str(source), "-o", str(out), "--model", str(model_dir), "--strict"]
    )
    assert strict.exit_code == 1 and "3 malformed line(s)" in strict.stderr


def test_predict_errors_are_messages_not_tracebacks(tmp_path, model_dir):
    missing = runner.invoke(app, ["predict", "--model", str(tmp_path / "none"), "--text", "hi"])
    assert missing.exit_code == 1 and "no model at" in missing.stderr
    assert "Traceback" not in missing.output
    both = runner.invoke(app, ["predict", "--model", str(model_dir)])
    assert both.exit_code == 1 and "either INPUT or --text" in both.stderr


def test_evaluate_any_labeled_files(model_dir, sample_splits, tmp_path):
    records = sample_splits["test"].to_dict("records")
    first = write_jsonl(tmp_path / "a.jsonl", records[: len(records) // 2])
    second = write_jsonl(tmp_path / "b.jsonl", records[len(records) // 2 :])
    out = tmp_path / "report"
    args = ["evaluate", "--model", str(model_dir), "--out", str(out), "--no-track"]
    result = runner.invoke(app, [*args, "--data", str(first), "--data", str(second)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["all"]["cause"]["n"] == len(sample_splits["test"])
    assert set(metrics) >= {"all", "ru", "uk", "bg", "en"}
    for scope in ("all", "ru", "uk", "bg", "en"):
        for task in ("cause", "troll"):
            assert (out / "confusion" / f"{task}_{scope}.png").stat().st_size > 1000
            assert (out / "confusion" / f"{task}_{scope}_counts.csv").exists()
            assert (out / "plots" / task / f"{scope}.csv").exists()
    assert (out / "errors.jsonl").exists()
    page = (out / "index.html").read_text()
    assert "evaluation on a.jsonl, b.jsonl" in page and metrics["data"]["files"][0]["md5"][:12] in page
    assert len(metrics["model"]["sha256"]) == 64
    assert not (out / "MODEL_CARD.md").exists()  # the card belongs to the pipeline's test split


def test_evaluate_rejects_invalid_labeled_file(model_dir, tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok", "lang": "ru"}])
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data)])
    assert result.exit_code == 1
    assert "bad.jsonl:1: missing field 'cause'" in result.stderr


def test_data_check_flags_near_duplicates(tmp_path):
    write_jsonl(
        tmp_path / "a.jsonl",
        [
            {
                "text": "The router dies every evening",
                "lang": "en",
                "cause": "defect",
                "troll": False,
            },
            {
                "text": "The router dies every evening!",
                "lang": "en",
                "cause": "defect",
                "troll": False,
            },
            {"text": "Thank you, lovely staff", "lang": "en", "cause": "none", "troll": False},
        ],
    )
    result = runner.invoke(app, ["data", "check", "--raw-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "a.jsonl:1 ~" in result.stdout and "1 near-duplicate pairs" in result.stdout


def test_shipped_corpus_is_valid_and_has_no_near_duplicates():
    result = runner.invoke(app, ["data", "check"])
    assert result.exit_code == 0, result.stdout[-2000:]
    assert "0 invalid; 0 near-duplicate pairs above 0.6" in result.stdout


def test_predict_with_settings_file_and_name(model_dir, tmp_path):
    settings = tmp_path / "settings.yaml"
    thresholds = "thresholds:\n  human_review_below: 0.0\n  thank_at: 0.0\n  thank_troll_below: 1.0\n"
    settings.write_text("brand: Zetta\n" + thresholds)
    args = ["predict", "--model", str(model_dir), "--settings", str(settings)]
    result = runner.invoke(app, [*args, "--name", "Олена", "--text", "Дякую, все чудово, доставка швидка!"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["action"] == "reply"
    assert "Zetta" in payload["reply"] and "Вітаємо, Олено!" in payload["reply"]
    settings.write_text("respons_time_hours: 3\n")
    bad = runner.invoke(app, [*args, "--text", "hello there"])
    assert bad.exit_code == 1 and "respons_time_hours" in bad.stderr
