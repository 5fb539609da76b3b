"""The NumPy inference path must give scikit-learn's features and probabilities, on any text."""

import pickle
import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from triage.models.baseline import LinearConfig, TfidfLinearClassifier
from triage.models.fast_tfidf import FastTfidf, HashIndex, TextBatch, supported
from triage.models.normalize import feature_text

HOSTILE = [
    "",
    "   ",
    "a",
    "I  am\tfine\nreally",
    "😀😀😀 emoji only",
    "x_y __init__ foo_bar 12 3,5 ½ ²",
    "ab\x1ccd\x1dxx\x85yy",  # characters str.split() treats as whitespace
    "\ud800 lone surrogate \udfff",
    "ǅ ﬁ ＡＢＣ",  # NFKC and casefold change these
    "e\u0301 combining e\u0301e\u0301",
    "\u200fمرحبا\u200e right to left",
    "中文评论 日本語",
    "ж" * 3000,
    "нет-нет, 100% не-ре-аль-но!!! 5/10",
    "Дуже погано... ПРОСТО ЖАХ!!!1",
]


def _random_texts(count: int, seed: int = 5) -> list[str]:
    """Random mixtures of the scripts, digits, punctuation and spaces comments are made of."""
    alphabet = "абвгдежзийклмнопрстуфхцчшщъыьэюяіїєґabcdefghijklmnopqrstuvwxyzÄöß0123456789_ .,!?-'\t\n😀"
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(count)]


@pytest.fixture(scope="module")
def texts(sample_splits):
    return sample_splits["test"].text.tolist() + HOSTILE + _random_texts(300)


def _vectorizers(model):
    parts = [part for _, part in model.classifier.vectorizer.transformer_list]
    return [*parts, model.langid.pipeline["tfidf"]]


def test_fast_tfidf_equals_sklearn_transform(fitted_model, texts):
    batch = TextBatch(texts)
    for vectorizer in _vectorizers(fitted_model):
        expected = vectorizer.transform(texts)  # its preprocessor is feature_text
        got = FastTfidf(vectorizer).transform(batch)
        assert got.shape == expected.shape
        assert abs(got - expected).max() < 1e-6, (vectorizer.analyzer, vectorizer.ngram_range)
        assert got.nnz == expected.nnz


def test_fast_tfidf_one_text_at_a_time_equals_the_batch(fitted_model, texts):
    vectorizer = _vectorizers(fitted_model)[1]
    fast = FastTfidf(vectorizer)
    whole = fast.transform(TextBatch(texts[:40])).toarray()
    for i, text in enumerate(texts[:40]):
        assert np.allclose(fast.transform(TextBatch([text])).toarray()[0], whole[i], atol=1e-7)


def test_empty_batch(fitted_model):
    for vectorizer in _vectorizers(fitted_model):
        assert FastTfidf(vectorizer).transform(TextBatch([])).shape == (0, len(vectorizer.vocabulary_))


def test_classifier_fast_path_equals_sklearn(fitted_model, texts):
    cause, troll = fitted_model.classifier.predict_proba(texts)
    ref_cause, ref_troll = fitted_model.classifier.reference_predict_proba(texts)
    assert fitted_model.classifier._fast is not None
    assert np.allclose(cause, ref_cause, atol=1e-6)
    assert np.allclose(troll, ref_troll, atol=1e-6)
    assert (cause.argmax(axis=1) == ref_cause.argmax(axis=1)).mean() > 0.999


def test_language_id_fast_path_equals_sklearn(fitted_model, texts):
    langid = fitted_model.langid
    assert langid._fast is not None
    assert np.allclose(langid._proba(texts), langid.pipeline.predict_proba(texts), atol=1e-6)


def test_fast_path_is_rebuilt_after_pickling(fitted_model, texts):
    before = fitted_model.score(texts[:20])
    restored = pickle.loads(pickle.dumps(fitted_model))
    assert "_fast" not in restored.classifier.__dict__
    after = restored.score(texts[:20])
    assert np.allclose(before.cause_proba, after.cause_proba) and before.langs == after.langs


def test_unsupported_settings_are_detected():
    assert not supported(TfidfVectorizer(analyzer="char", preprocessor=feature_text))
    assert not supported(TfidfVectorizer(analyzer="word"))  # sklearn's own preprocessing


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_every_calibration_method_has_the_plain_array_path(sample_splits, method):
    """Sigmoid and isotonic calibration are plain arrays too, so every baseline saves without pickle."""
    train, valid = sample_splits["train"], sample_splits["valid"]
    classifier = TfidfLinearClassifier(LinearConfig(calibration=method, max_features=5000))
    classifier.fit(train.text, train.cause, train.troll, valid.text, valid.cause, valid.troll)
    assert classifier._fast is not None
    texts = valid.text.tolist()
    cause, troll = classifier.predict_proba(texts)
    ref_cause, ref_troll = classifier.reference_predict_proba(texts)
    # float32 decision values summed in another order differ by ~1e-7; a steep isotonic step
    # turns that into ~1e-5 of probability.
    atol = 1e-6 if method == "sigmoid" else 1e-4
    assert np.allclose(cause, ref_cause, atol=atol) and np.allclose(troll, ref_troll, atol=atol)
    assert (cause.argmax(axis=1) == ref_cause.argmax(axis=1)).mean() > 0.99


def test_hash_index_finds_every_key_and_nothing_else():
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**63, size=5000, dtype=np.uint64))
    index = HashIndex(keys, np.arange(len(keys)))
    assert index.max_probes > 0  # a quarter-full table still collides: the probing is exercised
    assert (index.lookup(keys) == np.arange(len(keys))).all()
    strangers = np.setdiff1d(rng.integers(0, 2**63, size=5000, dtype=np.uint64), keys)
    assert (index.lookup(strangers) == -1).all()
    with pytest.raises(ValueError, match="share a 64-bit hash"):
        HashIndex(np.array([7, 7], dtype=np.uint64), np.array([0, 1]))
