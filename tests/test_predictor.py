"""The predictor contract and the artifact format's save/load round trip."""

import json

import numpy as np
import pytest
from triage.models.artifact import FORMAT, MANIFEST, ModelLoadError, load_model, save_model
from triage.models.labels import CAUSES
from triage.serve.predictor import Predictor


@pytest.fixture(scope="module")
def saved_model(fitted_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    fitted_model.version = "7"
    return save_model(fitted_model, path)


def test_artifact_round_trip_gives_identical_scores(fitted_model, saved_model, sample_splits):
    texts = sample_splits["test"].text.tolist()
    loaded = load_model(saved_model)
    before, after = fitted_model.score(texts), loaded.score(texts)
    assert np.array_equal(before.cause_proba, after.cause_proba)
    assert np.array_equal(before.troll_proba, after.troll_proba)
    assert before.langs == after.langs
    manifest = json.loads((saved_model / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["kind"] == "tfidf_linear"
    assert manifest["labels"]["cause"] == list(CAUSES)


def test_missing_or_foreign_artifacts_fail_clearly(tmp_path, saved_model):
    with pytest.raises(ModelLoadError, match=r"manifest\.json not found"):
        load_model(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "something/9"}))
    with pytest.raises(ModelLoadError, match="unsupported format"):
        load_model(tmp_path)
    (tmp_path / MANIFEST).write_text((saved_model / MANIFEST).read_text())
    with pytest.raises(ModelLoadError, match=r"classifier\.json: listed in manifest\.json but missing"):
        load_model(tmp_path)


def test_predictor_contract(saved_model, sample_splits):
    predictor = Predictor.load(saved_model)
    texts = sample_splits["test"].text.tolist()[:20]
    predictions = predictor.predict(texts)
    assert len(predictions) == len(texts)
    for p in predictions:
        assert list(p.cause_scores) == list(CAUSES)
        assert sum(p.cause_scores.values()) == pytest.approx(1.0)
        assert p.cause == max(p.cause_scores, key=p.cause_scores.get)
        assert 0 <= p.troll_score <= 1
        assert p.troll == (p.troll_score >= predictor.model.troll_threshold)
        assert p.model.name == "triage" and p.model.version == "7"
    # batch scoring equals one-by-one scoring: no state leaks between rows (the reply wording
    # may differ: a batch avoids two identical replies in a row)
    single = [predictor.predict([t])[0] for t in texts[:5]]
    exclude = {"reply"}
    assert [s.model_dump(exclude=exclude) for s in single] == [
        p.model_dump(exclude=exclude) for p in predictions[:5]
    ]
    assert predictor.predict([]) == []


def test_predictor_uses_environment_uri(saved_model, monkeypatch):
    monkeypatch.setenv("TRIAGE_MODEL_URI", str(saved_model))
    assert Predictor.load().info.version == "7"
    monkeypatch.setenv("TRIAGE_MODEL_URI", "/nonexistent/model")
    with pytest.raises(ModelLoadError):
        Predictor.load()


def test_predictions_carry_action_and_reply(saved_model):
    predictor = Predictor.load(saved_model)
    texts = [
        "Курьер опоздал на три дня, заказ так и не привезли, номер 48213",
        "Дякую, все прийшло вчасно і ціла упаковка!",
        "you are all brain-dead idiots, lol, go bankrupt",
        "Der Kurier ist nicht gekommen und niemand antwortet",
    ]
    predictions = predictor.predict(texts, ids=["a", "b", "c", "d"], names=["Олег", None, "Troll", "Hans"])
    for text, p in zip(texts, predictions, strict=True):
        assert p.action in {"reply", "human_review", "do_not_engage"}
        if p.troll:
            assert p.action == "do_not_engage" and p.reply is None
        else:
            assert p.reply and text not in p.reply and "48213" not in p.reply
    assert predictions[3].lang == "other" and predictions[3].action == "human_review"
    assert predictions[3].reply.startswith("Hello Hans,")
    # the same ids and settings give the same replies; settings override per call
    again = predictor.predict(texts, ids=["a", "b", "c", "d"], names=["Олег", None, "Troll", "Hans"])
    assert [p.reply for p in again] == [p.reply for p in predictions]
    branded = predictor.predict(texts[:1], settings={"brand": "Zetta", "response_time_hours": 1})[0]
    assert branded.reply and "Zetta" in branded.reply
    with pytest.raises(ValueError, match="same length"):
        predictor.predict(texts, ids=["a"])


def test_created_at_gives_respond_by_in_utc_from_any_offset(fitted_model):
    from datetime import UTC, datetime, timedelta

    predictor = Predictor(fitted_model)
    texts = ["no signal for the third day, stranded!!!", "Does the app work abroad?", "hello"]
    stamps = ["2026-11-24T11:30:00+02:00", datetime(2026, 11, 24, 9, 30), None]
    first, second, third = predictor.predict(texts, created_at=stamps)
    windows = predictor.replies.settings.respond_within_minutes
    for p in (first, second):
        expected = datetime(2026, 11, 24, 9, 30, tzinfo=UTC) + timedelta(minutes=getattr(windows, p.priority))
        assert p.respond_by == (
            expected.strftime("%Y-%m-%dT%H:%M:%SZ") if p.action != "do_not_engage" else None
        )
    assert third.respond_by is None
    assert all(p.priority in {"urgent", "high", "normal", "low"} for p in (first, second, third))
    with pytest.raises(ValueError, match="same length"):
        predictor.predict(texts, created_at=[None])
