"""The classifier heads, calibration, the troll threshold, language id and normalisation."""

import random
import threading

import numpy as np
import pytest
from triage.models.baseline import LinearConfig
from triage.models.labels import CAUSES, LANGS, MAX_TEXT_CHARS, OTHER_LANG
from triage.models.normalize import clean_text, dedup_key, feature_text
from triage.train.evaluate import score_frame
from triage.train.fit import best_f1_threshold
from triage.train.metrics import compute_metrics, expected_calibration_error


def test_cause_head_outputs_a_distribution_over_all_labels(fitted_model, sample_splits):
    cause, troll = fitted_model.classifier.predict_proba(sample_splits["test"].text.tolist())
    assert cause.shape == (len(sample_splits["test"]), len(CAUSES))
    assert np.allclose(cause.sum(axis=1), 1.0)
    assert ((troll >= 0) & (troll <= 1)).all()


def test_heads_learn_far_above_chance(fitted_model, sample_splits):
    report = compute_metrics(score_frame(fitted_model, sample_splits["test"]))
    assert report["all"]["cause"]["macro_f1"] > 0.45  # chance is about 1/7
    assert report["all"]["troll"]["roc_auc"] > 0.8
    assert report["all"]["lang_accuracy"] > 0.9


def test_calibrated_confidence_tracks_accuracy(fitted_model, sample_splits):
    test = sample_splits["test"]
    cause, _ = fitted_model.classifier.predict_proba(test.text.tolist())
    labels = test.cause.map(CAUSES.index).to_numpy()
    assert expected_calibration_error(cause, labels) < 0.2


def test_troll_threshold_maximises_f1_on_held_out_scores():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.35, 0.3, 0.8, 0.9])
    threshold = best_f1_threshold(labels, scores)
    assert threshold == pytest.approx(0.3)
    assert 0 < threshold < 1


def test_linear_config_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown linear model setting"):
        LinearConfig.from_dict({"cause_c": 1.0, "typo_c": 2.0})
    assert LinearConfig.from_dict({"char_ngram_range": [1, 3]}).char_ngram_range == (1, 3)


def test_language_identifier_on_held_out_comments(fitted_model, sample_splits):
    test = sample_splits["test"]
    langs, confidence = fitted_model.langid.predict(test.text.tolist())
    accuracy = np.mean(np.array(langs) == test.lang.to_numpy())
    assert accuracy > 0.9
    assert set(langs) <= {*LANGS, OTHER_LANG}
    assert ((confidence > 0) & (confidence <= 1)).all()


@pytest.mark.parametrize(
    "text",
    [
        "Der Kurier ist nicht gekommen und niemand antwortet auf meine E-Mails",
        "La livraison est arrivée avec trois jours de retard, très déçu",
        "Kurier nie przyjechał, a infolinia nie odbiera od tygodnia",
        "配送が遅れています。どうなっていますか",
        "🙂🙂🙂",
    ],
)
def test_other_languages_are_reported_as_other(fitted_model, text):
    langs, _ = fitted_model.langid.predict([text])
    assert langs == [OTHER_LANG]


def test_normalisation_levels():
    assert clean_text("  Cafe\u0301 \n closed  ") == "Café closed"
    assert dedup_key("CAFÉ closed") == dedup_key("cafe\u0301   CLOSED")
    assert feature_text("УЖААААСНО\u200b!!") == "ужасно !"
    assert feature_text("@ZettaHelp see https://x.io/a?b=1 now, mail a.b@c.com") == (
        "@user see httpurl now , mail emailaddr"
    )


@pytest.mark.parametrize(
    "typed, read",
    [
        ("вы все и д и о т ы", "вы все идиоты"),  # letters spelled out one by one
        ("ну вы и у.р.о.д.ы", "ну вы и уроды"),  # "и" stays a word: the separators differ
        ("а я и не знал", "а я и не знал"),  # single-letter words are not spelled-out words
        ("you are all 1d10ts", "you are all idiots"),  # look-alike digits in Latin words
        ("х@мы", "хамы"),  # @ for а inside a Cyrillic word
        ("iphone13, mp3, the 3rd time, 3,5 лв", "iphone13 , mp3 , the 3rd time , 3,5 лв"),  # digits kept
        ("дeбилы", "дебилы"),  # a Latin e in a Cyrillic word
        ("thе аpp", "the app"),  # Cyrillic е and а in English words
        ("сooool!!!", "col !"),  # held letters and repeated punctuation
        ("bad,awful", "bad,awful"),  # punctuation between letters is part of the token
        ("bad, awful.", "bad , awful ."),
        ("кур'єр по-русски", "кур'єр по-русски"),
    ],
)
def test_feature_text_reads_how_people_type(typed, read):
    assert feature_text(typed) == read


def test_normalisation_of_a_maximal_hostile_comment_does_not_hang():
    """Regular expressions that backtrack catastrophically would let one comment stall a worker
    (an earlier mixed-script pattern took ~50 s on 300 random strings). Generous bound: a hang
    guard, not a speed target."""
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyzабвгдежзийклмнопрстуфхцчшщыэюяіїє0123456789@$_"
    hostile = "".join(rng.choice(letters) for _ in range(MAX_TEXT_CHARS))
    worker = threading.Thread(target=feature_text, args=(hostile,), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive()


def test_f1_by_language_scores_each_language_over_the_causes_present():
    import pandas as pd
    from triage.train.metrics import f1_by_language

    frame = pd.DataFrame(
        {
            "lang": ["ru", "ru", "en", "en"],
            "cause": ["price", "defect", "price", "price"],
            "troll": [True, False, False, True],
        }
    )
    scores = f1_by_language(frame, ["price", "price", "price", "none"], [True, False, True, True])
    assert scores["ru"] == {"n": 2, "cause_macro_f1": 0.3333, "troll_f1": 1.0}  # defect missed, price right
    assert scores["en"]["cause_macro_f1"] == 0.6667 and scores["en"]["troll_f1"] == 0.6667
    assert set(scores) == {"all", "ru", "en"}
