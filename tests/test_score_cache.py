"""The LRU cache of recent scores: same answers as without it, bounded, per model, and its
hits, misses and hit ratio in the service's `/metrics`."""

import dataclasses
import json
import unicodedata

import httpx
import pytest
from triage.models.artifact import save_model
from triage.serve.app import create_app
from triage.serve.cache import CACHE_SIZE_ENV, ScoreCache, cache_size_from_env
from triage.serve.predictor import Predictor

from tests.conftest import app_in_thread


class CountingModel:
    """The real model, counting the texts it is asked to score."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def score(self, texts):
        self.seen.extend(texts)
        return self.model.score(texts)


@pytest.fixture(scope="module")
def model_dir(fitted_model, tmp_path_factory):
    return save_model(dataclasses.replace(fitted_model, version="5"), tmp_path_factory.mktemp("cache-model"))


@pytest.fixture(scope="module")
def texts(sample_splits):
    return sample_splits["test"].text.tolist()[:60]


def dumps(predictions) -> list[dict]:
    return [json.loads(p.model_dump_json()) for p in predictions]


def test_cached_answers_equal_uncached_ones_and_repeats_are_scored_once(model_dir, texts):
    plain = Predictor.load(model_dir, cache=ScoreCache(0))
    cached = Predictor.load(model_dir, cache=ScoreCache(1000))
    counting = CountingModel(cached.model)
    cached.model = counting
    batch = texts + texts[:10]  # ten repeats inside the batch
    first = cached.predict(batch)
    assert len(counting.seen) == len(set(batch))  # each distinct text scored once
    again = cached.predict(list(reversed(batch)))
    assert len(counting.seen) == len(set(batch))  # all from the cache
    assert dumps(first) == dumps(plain.predict(batch))
    assert dumps(again) == dumps(plain.predict(list(reversed(batch))))


def test_replies_follow_each_request_not_the_cached_one(model_dir, texts):
    """Same text, another id, name, created_at and reply settings: the cached scores are
    reused, the reply and `respond_by` are the request's own."""
    plain = Predictor.load(model_dir, cache=ScoreCache(0))
    cached = Predictor.load(model_dir, cache=ScoreCache(1000))
    requests = [
        dict(ids=["a1"], names=["Олена"], created_at=["2026-11-24T09:30:00Z"], settings={"brand": "Zetta"}),
        dict(ids=["b2"], names=["Brunhilde"], created_at=["2026-12-01T18:00:00+02:00"], settings=None),
        dict(ids=[None], names=[None], created_at=[None], settings={"response_time_hours": 1}),
    ]
    text = next(t for t in texts if plain.predict([t])[0].action == "reply")
    answers = []
    for kwargs in requests:
        answer = cached.predict([text], **kwargs)
        assert dumps(answer) == dumps(plain.predict([text], **kwargs))
        answers.append(answer[0])
    lookup = cached.lookup([text])
    assert lookup.hits == 1 and not lookup.missing
    assert len({a.respond_by for a in answers}) == 3
    assert answers[0].reply != answers[1].reply  # greeted by name, other brand


def test_texts_that_normalise_alike_are_not_conflated(model_dir):
    """Language id reads the raw text: an NFD "ў" is not the Belarusian marker letter, so the
    two forms can get different languages and must not share an entry."""
    nfc = "Дзякуй, ўсё добра, дастаўка хуткая"
    nfd = unicodedata.normalize("NFD", nfc)
    plain = Predictor.load(model_dir, cache=ScoreCache(0))
    cached = Predictor.load(model_dir, cache=ScoreCache(1000))
    assert dumps(cached.predict([nfc])) == dumps(plain.predict([nfc]))
    assert cached.lookup([nfd]).hits == 0
    assert dumps(cached.predict([nfd])) == dumps(plain.predict([nfd]))
    assert cached.lookup([" " + nfc]).hits == 0


def test_the_cache_is_bounded_least_recently_used_and_0_disables_it(model_dir, texts):
    small = Predictor.load(model_dir, cache=ScoreCache(2))
    a, b, c = texts[:3]
    small.predict([a, b])
    small.predict([a])  # a is now more recent than b
    small.predict([c])  # evicts b
    assert len(small.cache) == 2
    assert small.lookup([a]).hits == 1 and small.lookup([c]).hits == 1 and small.lookup([b]).hits == 0
    off = Predictor.load(model_dir, cache=ScoreCache(0))
    counting = CountingModel(off.model)
    off.model = counting
    off.predict([a, a])
    off.predict([a])
    assert counting.seen == [a, a, a] and len(off.cache) == 0


def test_models_sharing_a_cache_never_see_each_others_scores(fitted_model, model_dir, texts, tmp_path):
    strict = save_model(dataclasses.replace(fitted_model, troll_threshold=0.01, version="6"), tmp_path / "m")
    shared = ScoreCache(1000)
    first = Predictor.load(model_dir, cache=shared)
    second = Predictor.load(strict, cache=shared)
    assert first.digest != second.digest
    first.predict(texts)
    assert second.lookup(texts).hits == 0
    expected = Predictor.load(strict, cache=ScoreCache(0)).predict(texts)
    assert dumps(second.predict(texts)) == dumps(expected)
    assert any(a.troll != b.troll for a, b in zip(first.predict(texts), expected, strict=True))


def test_cache_size_setting(monkeypatch):
    monkeypatch.delenv(CACHE_SIZE_ENV, raising=False)
    assert cache_size_from_env() == 10_000
    monkeypatch.setenv(CACHE_SIZE_ENV, "0")
    assert cache_size_from_env() == 0
    for bad in ("-1", "ten", "1.5"):
        monkeypatch.setenv(CACHE_SIZE_ENV, bad)
        with pytest.raises(ValueError, match=CACHE_SIZE_ENV):
            cache_size_from_env()


def metric(text: str, name: str) -> float:
    [line] = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


def test_http_service_reports_hits_misses_and_ratio(model_dir, texts):
    predictor = Predictor.load(model_dir, cache=ScoreCache(100))
    with app_in_thread(create_app(predictor)) as url:
        items = [{"text": t} for t in texts[:4]]
        for _ in range(3):  # 4 misses, then 8 hits
            assert httpx.post(f"{url}/v1/predict", json={"items": items}).status_code == 200
        scraped = httpx.get(f"{url}/metrics").text
    assert metric(scraped, "triage_prediction_cache_hits_total") == 8
    assert metric(scraped, "triage_prediction_cache_misses_total") == 4
    assert metric(scraped, "triage_prediction_cache_hit_ratio") == pytest.approx(8 / 12)
    assert metric(scraped, "triage_prediction_cache_entries") == 4
