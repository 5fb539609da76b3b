"""The learned sub-case chooser: fitted with scikit-learn, stored as JSON + .npz without pickle,
combined with the patterns as measured, and the one the reply book ships with."""

import json
import shutil

import numpy as np
import pytest
from triage.serve.replies import ReplyBook, ReplyConfigError
from triage.serve.replies.learned import MODEL_ARRAYS, MODEL_JSON, LearnedSubcases
from triage.serve.replies.subcases import SubcaseChooser, combined
from triage.train.subcase_fit import SubcaseFitConfig, fit_learned, training_rows

from tests.conftest import PROJECT

REPLIES = PROJECT / "configs" / "replies"
WORDS = {
    ("after_sales", "delivery"): [
        "курьер не привёз посылку",
        "parcel never delivered",
        "доставка запізнилася",
    ],
    ("after_sales", "refund"): [
        "верните деньги за возврат",
        "refund still not received",
        "гроші не повернули",
    ],
    ("after_sales", "repair"): [
        "мастер не пришёл чинить",
        "technician missed the repair",
        "ремонт затягнули",
    ],
    ("none", "praise"): ["спасибо, всё отлично", "thanks, great service", "дякую, все чудово"],
    ("none", "question"): ["как оплатить картой?", "do you ship to Canada?", "чи працюєте в неділю?"],
    ("none", "suggestion"): ["добавьте тёмную тему", "please add a dark mode", "додайте темну тему"],
}


def _rows() -> list[dict]:
    rows = [
        {"cause": cause, "subcase": sub, "text": f"{text} {i}", "lang": "ru", "troll": False}
        for (cause, sub), texts in WORDS.items()
        for text in texts
        for i in range(4)
    ]
    rows.append({"cause": "none", "subcase": "praise", "text": "troll row", "troll": True})
    rows.append({"cause": "interface", "subcase": None, "text": "app crashes"})
    return rows


@pytest.fixture(scope="module")
def learned() -> LearnedSubcases:
    return fit_learned(_rows(), SubcaseFitConfig(c=10.0), "learned", {"note": "test"})


def test_only_non_troll_rows_of_causes_with_sub_cases_teach(learned):
    assert len(training_rows(_rows())) == len(_rows()) - 2
    assert set(learned.heads) == {"after_sales", "none"}  # defect/price have no rows here
    assert learned.choose("after_sales", "курьер опять не привёз посылку") == "delivery"
    assert learned.choose("none", "please add dark mode to the app") == "suggestion"
    assert learned.choose("price", "charged twice") is None


def test_batched_choices_equal_one_at_a_time_and_abstain_without_a_known_word(learned):
    texts = ["refund still not here", "мастер так и не пришёл", "...", "", "😡😡", "доставка"]
    many = learned.choose_many("after_sales", texts)
    assert many == [learned.choose("after_sales", t) for t in texts]
    assert many[2:5] == [None, None, None]
    assert many[0] == "refund"


def test_saved_files_are_plain_and_load_back_the_same_choices(learned, tmp_path):
    paths = learned.save(tmp_path)
    assert [p.name for p in paths] == [MODEL_JSON, MODEL_ARRAYS]
    with np.load(tmp_path / MODEL_ARRAYS, allow_pickle=False) as arrays:  # no object arrays
        assert all(arrays[name].dtype != object for name in arrays.files)
    settings = json.loads((tmp_path / MODEL_JSON).read_text())
    assert settings["method"] == "learned" and settings["about"]["note"] == "test"
    loaded = LearnedSubcases.load(tmp_path)
    texts = ["parcel never came", "do you ship to Orkney?", "дякую за все", "добавьте кнопку"]
    for cause in ("after_sales", "none"):
        assert loaded.choose_many(cause, texts) == learned.choose_many(cause, texts)
        assert np.allclose(loaded.proba(cause, texts), learned.proba(cause, texts))


def test_a_tampered_model_fails_when_the_templates_load(learned, tmp_path):
    for name in ("ru", "uk", "bg", "en", "settings"):
        shutil.copy(REPLIES / f"{name}.yaml", tmp_path / f"{name}.yaml")
    learned.save(tmp_path)
    settings = json.loads((tmp_path / MODEL_JSON).read_text())
    settings["heads"]["none"]["classes"] = ["praise", "question", "spam"]
    (tmp_path / MODEL_JSON).write_text(json.dumps(settings))
    with pytest.raises(ReplyConfigError, match=r"learned sub-case chooser cannot be loaded.*'spam'"):
        ReplyBook.load(tmp_path)
    settings["heads"]["none"]["classes"] = ["praise", "question", "suggestion"]
    settings["method"] = "oracle"
    (tmp_path / MODEL_JSON).write_text(json.dumps(settings))
    with pytest.raises(ReplyConfigError, match="method 'oracle'"):
        ReplyBook.load(tmp_path)


def test_methods_combine_patterns_and_the_learned_answer():
    patterns = SubcaseChooser({"delivery": [r"courier"], "refund": [r"refund"], "praise": [r"thanks"]})
    text = "the courier lost it"
    assert combined("patterns", patterns, "refund", "after_sales", text) == "delivery"
    assert combined("learned", patterns, "refund", "after_sales", text) == "refund"
    assert combined("patterns_then_learned", patterns, "refund", "after_sales", text) == "delivery"
    assert combined("patterns_then_learned", patterns, "repair", "after_sales", "nothing here") == "repair"
    # Where the learned chooser abstains, the patterns decide (and an unclaimed `none` is `other`).
    assert combined("learned", patterns, None, "after_sales", "courier") == "delivery"
    assert combined("learned", patterns, None, "none", "...") == "other"
    assert combined("learned", patterns, None, "after_sales", "...") is None


def test_the_reply_book_ships_the_measured_chooser_and_batches_it():
    """configs/replies holds the chooser `benchmarks/subcases.py --select` chose; a folder
    without one (a company's own templates) falls back to the patterns."""
    book = ReplyBook.load(REPLIES)
    report = json.loads((PROJECT / "reports" / "subcases.json").read_text())
    assert report["selection"]["chosen"].startswith(book.subcase_method)
    assert book.learned is not None and book.learned.method == book.subcase_method
    rows = [
        {
            "lang": lang,
            "cause": cause,
            "cause_score": 0.9,
            "troll": False,
            "troll_score": 0.1,
            "key": text,
            "text": text,
        }
        for lang, cause, text in [
            ("en", "defect", "no signal in Leeds since 8am"),
            ("ru", "after_sales", "Курьер опять опоздал на два дня"),
            ("uk", "price", "Списали гроші двічі за одну підписку"),
            ("bg", "none", "Би било удобно приложението да има тъмна тема"),
            ("en", "after_sales", "..."),
        ]
    ]
    batched = book.suggest_batch(rows)
    one_by_one = [book.choose_subcase(r["lang"], r["cause"], r["text"]) for r in rows]
    assert [s.subcase for s in batched] == one_by_one
    assert one_by_one == ["outage", "delivery", "unexpected_charge", "suggestion", None]


def test_without_learned_files_the_patterns_choose(tmp_path):
    for name in ("ru", "uk", "bg", "en", "settings"):
        shutil.copy(REPLIES / f"{name}.yaml", tmp_path / f"{name}.yaml")
    book = ReplyBook.load(tmp_path)
    assert book.learned is None and book.subcase_method == "patterns"
    text = "Курьер опять опоздал на два дня"
    assert book.choose_subcase("ru", "after_sales", text) == book.choosers["ru"].choose("after_sales", text)
