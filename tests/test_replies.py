"""Reply suggestions: policy, templates in four languages, rotation, safety, configuration."""

import itertools
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from triage.models.labels import CAUSES, LANGS
from triage.serve.replies import COMPLAINTS, ReplyBook, ReplyConfigError, sanitize_name

from tests.conftest import PROJECT

REPLIES = PROJECT / "configs" / "replies"
APOLOGY = {
    "ru": ("извин", "жаль"),
    "uk": ("перепрош", "вибач", "шкода"),
    "bg": ("извин", "съжал"),
    "en": ("sorry", "apologi"),
}
# The classic bad answer, in every language, whatever the templates' own lists say.
BARE_REDIRECT = {
    "ru": ("обратитесь в службу поддержки", "обратитесь в поддержку"),
    "uk": ("зверніться до служби підтримки", "зверніться до підтримки"),
    "bg": ("обърнете се към поддръжката", "свържете се с поддръжката"),
    "en": ("contact our support team", "contact support", "we will look into it"),
}
RESPONSE_TIME = {"ru": "2 часов", "uk": "2 годин", "bg": "2 часа", "en": "2 hours"}


@pytest.fixture(scope="module")
def book() -> ReplyBook:
    return ReplyBook.load(REPLIES)


def suggest(book, **row):
    defaults = {"lang": "en", "cause": "defect", "cause_score": 0.9, "troll": False, "troll_score": 0.1}
    return book.suggest(key=row.pop("key", "k"), **{**defaults, **row})


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("cause", CAUSES)
def test_reply_for_every_language_and_cause(book, fitted_model, lang, cause):
    replies = {suggest(book, lang=lang, cause=cause, key=f"id-{i}", name="Olena").reply for i in range(12)}
    assert len(replies) >= (4 if cause == "none" else 3)
    for reply in replies:
        assert reply.startswith(book.templates[lang].greeting.with_name.format(name="Olena"))
        assert "Olena" in reply
        detected, _ = fitted_model.langid.predict([reply])
        assert detected == [lang], reply
        lowered = reply.casefold()
        forbidden = (*BARE_REDIRECT[lang], *book.templates[lang].forbidden)
        assert not any(phrase.casefold() in lowered for phrase in forbidden), reply
        assert "{" not in reply and "}" not in reply
        if cause != "none":
            assert any(word in lowered for word in APOLOGY[lang]), reply
            assert RESPONSE_TIME[lang] in reply
            assert "Example Co" in reply


def test_compensation_only_for_configured_causes(book):
    offer = book.settings.compensation.offer["en"]
    for cause in COMPLAINTS:
        reply = suggest(book, cause=cause).reply
        assert (offer in reply) == (cause in book.settings.compensation.causes)


def test_thanks_rotate_deterministically_and_never_repeat_back_to_back(book):
    rows = [
        {"lang": "uk", "cause": "none", "cause_score": 0.9, "troll": False, "troll_score": 0.0, "key": str(i)}
        for i in range(40)
    ]
    first = book.suggest_batch(rows)
    again = book.suggest_batch(rows)
    assert [s.reply for s in first] == [s.reply for s in again]
    assert len({s.reply for s in first}) >= 4
    assert all(a.reply != b.reply for a, b in itertools.pairwise(first))
    alone = suggest(book, lang="uk", cause="none", key="17")
    assert alone.reply == suggest(book, lang="uk", cause="none", key="17").reply


def test_trolls_get_no_reply_and_the_worst_are_reported(book):
    mild = suggest(book, troll=True, troll_score=0.6)
    worst = suggest(book, troll=True, troll_score=0.95)
    assert (mild.action, mild.reply, mild.report) == ("do_not_engage", None, False)
    assert (worst.action, worst.reply, worst.report) == ("do_not_engage", None, True)


def test_low_confidence_and_other_language_go_to_a_person_with_a_draft(book):
    unsure = suggest(book, lang="bg", cause="price", cause_score=0.3)
    assert unsure.action == "human_review" and "low confidence" in unsure.reason
    assert unsure.reply.startswith("Здравейте")
    other = suggest(book, lang="other", cause="after_sales")
    assert other.action == "human_review" and "not supported" in other.reason
    assert other.reply.startswith("Hello")
    sure = suggest(book, lang="bg", cause="price", cause_score=0.9)
    assert sure.action == "reply" and sure.reason is None


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert(1)</script>",
        "Anna\nPS: you are fired",
        "A" * 500,
        "Anna 😀",
        "Robert'); DROP TABLE--",
        "http://spam.example",
        "   ",
        "Anna\u202eevil",
    ],
)
def test_hostile_names_never_reach_the_reply(book, name):
    assert sanitize_name(name) is None
    reply = suggest(book, name=name).reply
    assert reply.startswith("Hello,\n")
    assert name.strip()[:10] not in reply if name.strip() else True


def test_real_names_in_any_script_are_kept(book):
    for name in ("Олена", "Jean-Luc", "O'Brien", "Дарья  Иванова", "Björk"):
        assert sanitize_name(name) == " ".join(name.split())
    assert "Дарья Иванова" in suggest(book, lang="ru", name="Дарья  Иванова").reply


def test_settings_override_per_call(book):
    settings = book.settings.merged(
        {"brand": "Zetta", "response_time_hours": 5, "compensation": {"causes": []}}
    )
    reply = book.suggest(
        lang="ru", cause="defect", cause_score=0.9, troll=False, troll_score=0.0, key="x", settings=settings
    ).reply
    assert "Zetta" in reply and "5 часов" in reply
    assert book.settings.compensation.offer["ru"] not in reply
    with pytest.raises(ValidationError):
        book.settings.merged({"response_time_hours": 0})
    with pytest.raises(ValidationError):
        book.settings.merged({"brandd": "typo"})


def _broken_copy(tmp_path: Path, lang: str, change) -> Path:
    folder = tmp_path / "replies"
    shutil.copytree(REPLIES, folder)
    path = folder / f"{lang}.yaml"
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(values)
    path.write_text(yaml.safe_dump(values, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v["causes"]["price"].__setitem__(0, "Sorry, we will fix it."), "missing placeholder"),
        (
            lambda v: v["causes"]["price"].__setitem__(0, "Sorry {customer} {response_time}"),
            "unknown placeholder",
        ),
        (lambda v: v["causes"].__setitem__("delivery", ["x {response_time}"] * 3), "unknown cause"),
        (lambda v: v["causes"].pop("rudeness"), "missing cause"),
        (lambda v: v.__setitem__("thanks", v["thanks"][:2]), "thanks"),
        (lambda v: v["thanks"].append("Please contact support for anything."), "forbidden phrase"),
        (lambda v: v["greeting"].__setitem__("with_name", "Hello {name"), "malformed template"),
    ],
)
def test_bad_templates_fail_at_load_time_with_the_file(tmp_path, change, message):
    folder = _broken_copy(tmp_path, "en", change)
    with pytest.raises(ReplyConfigError, match=message) as caught:
        ReplyBook.load(folder)
    assert "en.yaml" in str(caught.value)


def test_missing_reply_configuration_is_reported(tmp_path):
    with pytest.raises(ReplyConfigError, match="not found"):
        ReplyBook.load(tmp_path)
