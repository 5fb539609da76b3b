"""Reply suggestions: policy, sub-cases, details, profile, honesty, queue, configuration (4 languages)."""

import itertools
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from triage.models.labels import CAUSES, LANGS
from triage.serve.replies import COMPLAINTS, SUBCASES, ReplyBook, ReplyConfigError, sanitize_name

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


RESPONSE_TIME = {"ru": "2 часов", "uk": "2 годин", "bg": "2 часа", "en": "2 hours"}
# One comment per language for several sub-cases (written for these tests, not from the corpus).
EXAMPLES = {
    "en": {
        ("defect", "outage"): "no signal since this morning, can't call anyone",
        ("after_sales", "refund"): "returned the kettle two weeks ago and still no refund",
        ("price", "unexpected_charge"): "you charged me twice for the same subscription",
        ("none", "praise"): "Thank you, the engineer was brilliant!",
        ("none", "question"): "Does the roaming add-on work in Canada?",
        ("none", "suggestion"): "It would be nice if the app had dark mode",
    },
    "ru": {
        ("defect", "outage"): "нет связи с самого утра, не могу позвонить",
        ("after_sales", "refund"): "вернул чайник две недели назад, деньги до сих пор не вернули",
        ("price", "unexpected_charge"): "списали дважды за одну и ту же подписку",
        ("none", "praise"): "Спасибо, мастер был просто отличный!",
        ("none", "question"): "Работает ли роуминг в Канаде?",
        ("none", "suggestion"): "Было бы удобно, если бы в приложении была тёмная тема",
    },
    "uk": {
        ("defect", "outage"): "немає зв'язку з самого ранку, не можу подзвонити",
        ("after_sales", "refund"): "повернула чайник два тижні тому, гроші досі не повернули",
        ("price", "unexpected_charge"): "списали двічі за ту саму підписку",
        ("none", "praise"): "Дякую, майстер був просто чудовий!",
        ("none", "question"): "Чи працює роумінг у Канаді?",
        ("none", "suggestion"): "Було б зручно, якби в застосунку була темна тема",
    },
    "bg": {
        ("defect", "outage"): "няма връзка от сутринта, не мога да се обадя на никого",
        ("after_sales", "refund"): "върнах чайника преди две седмици, парите още не са възстановени",
        ("price", "unexpected_charge"): "взехте ми два пъти за един и същ абонамент",
        ("none", "praise"): "Благодаря, техникът беше страхотен!",
        ("none", "question"): "Работи ли роумингът в Канада?",
        ("none", "suggestion"): "Би било удобно приложението да има тъмна тема",
    },
}
SARCASM = {
    "en": "Thanks for the third outage this week, great job",
    "ru": "Спасибо за третий сбой за неделю, отличная работа",
    "uk": "Дякую за третій збій за тиждень, чудова робота",
    "bg": "Благодаря за третия срив тази седмица, страхотна работа",
}
PROFANE = {
    "en": "my fucking internet is down AGAIN, third day!!!",
    "ru": "бля, интернет опять не работает третий день!!!",
    "uk": "бля, інтернет знову не працює третій день!!!",
    "bg": "мамка ти, интернетът пак не работи трети ден!!!",
}
ORDER_WORDS = {"en": "order", "ru": "заказ", "uk": "замовлен", "bg": "поръчк"}


def suggest(book, **row):
    defaults = {"lang": "en", "cause": "defect", "cause_score": 0.9, "troll": False, "troll_score": 0.05}
    return book.suggest(key=row.pop("key", "k"), **{**defaults, **row})


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("cause", CAUSES)
def test_reply_for_every_language_and_cause(book, fitted_model, lang, cause):
    text = EXAMPLES[lang][("none", "praise")] if cause == "none" else ""
    suggestions = [
        suggest(book, lang=lang, cause=cause, key=f"id-{i}", name="Olena", text=text) for i in range(12)
    ]
    assert len({s.reply for s in suggestions}) >= 2
    for reply in {s.reply for s in suggestions}:
        assert reply.startswith(book.templates[lang].greeting.with_name.format(name="Olena"))
        detected, _ = fitted_model.langid.predict([reply])
        assert detected == [lang], reply
        lowered = reply.casefold()
        forbidden = (*BARE_REDIRECT[lang], *book.templates[lang].forbidden)
        assert not any(phrase.casefold() in lowered for phrase in forbidden), reply
        assert "{" not in reply and "}" not in reply
        if cause != "none":
            assert any(word in lowered for word in APOLOGY[lang]), reply
            assert RESPONSE_TIME[lang] in reply
            assert book.templates[lang].private_channel in reply


@pytest.mark.parametrize("lang", LANGS)
def test_sub_cases_are_recognised_and_get_their_own_text(book, lang):
    for (cause, subcase), text in EXAMPLES[lang].items():
        chosen = suggest(book, lang=lang, cause=cause, text=text, none_score=0.95)
        assert chosen.subcase == subcase, (lang, text)
        own = book.templates[lang].subcases[subcase].replies
        assert any(variant.split("{")[0].strip() in chosen.reply for variant in own)


@pytest.mark.parametrize("lang", LANGS)
def test_generic_text_when_no_sub_case_is_sure(book, lang):
    chosen = suggest(book, lang=lang, cause="after_sales", text="...")
    assert chosen.subcase is None
    assert any(v in chosen.reply for v in book.templates[lang].causes["after_sales"])


def test_every_sub_case_label_has_patterns_and_replies_in_every_language(book):
    for lang in LANGS:
        for names in SUBCASES.values():
            for name in names:
                sub = book.templates[lang].subcases[name]
                assert len(sub.replies) >= 2
                assert sub.match or name == "other", (lang, name)


@pytest.mark.parametrize("lang", LANGS)
def test_thank_you_only_for_confident_praise_without_complaint_words(book, lang):
    praise = EXAMPLES[lang][("none", "praise")]
    sure = suggest(book, lang=lang, cause="none", cause_score=0.9, none_score=0.9, text=praise)
    assert (sure.action, sure.subcase) == ("reply", "praise")
    for unsure in (
        suggest(book, lang=lang, cause="none", cause_score=0.6, none_score=0.6, text=praise),
        suggest(book, lang=lang, cause="none", cause_score=0.9, none_score=0.9, troll_score=0.4, text=praise),
        suggest(book, lang=lang, cause="none", cause_score=0.9, none_score=0.9, text=SARCASM[lang]),
    ):
        assert unsure.action == "human_review" and unsure.subcase == "other", unsure
        assert not any(v in unsure.reply for v in book.templates[lang].subcases["praise"].replies)


@pytest.mark.parametrize("lang", LANGS)
def test_questions_are_answered_in_private_and_other_remarks_go_to_a_person(book, lang):
    question = suggest(book, lang=lang, cause="none", text=EXAMPLES[lang][("none", "question")])
    assert question.action == "reply" and question.subcase == "question"
    assert book.templates[lang].private_channel in question.reply and RESPONSE_TIME[lang] in question.reply
    other = suggest(book, lang=lang, cause="none", text="ok")
    assert (other.action, other.subcase) == ("human_review", "other")


@pytest.mark.parametrize("lang", LANGS)
def test_details_given_are_acknowledged_and_not_asked_again(book, lang):
    text = EXAMPLES[lang][("after_sales", "refund")] + " #48213377, 49.90 €"
    given = suggest(book, lang=lang, cause="after_sales", text=text).reply
    assert "48213377" in given and "49.90 €" in given
    templates = book.templates[lang]
    assert templates.next_step.given.split("{")[0] in given
    assert templates.ask_for["reference"] not in given
    asked = suggest(
        book, lang=lang, cause="after_sales", text=EXAMPLES[lang][("after_sales", "refund")]
    ).reply
    assert templates.ask_for["reference"] in asked


@pytest.mark.parametrize("lang", LANGS)
def test_default_profile_fits_any_company_and_industry_sets_what_to_ask(book, lang):
    reply = suggest(book, lang=lang, cause="defect").reply
    assert ORDER_WORDS[lang] not in reply.casefold()
    assert "10%" not in reply  # no compensation promised unless configured
    shop = book.settings.merged({"profile": {"industry": "shop"}})
    assert book.templates[lang].ask_for["order"] in suggest(book, lang=lang, settings=shop).reply
    utility = book.settings.merged({"profile": {"industry": "utility", "private_channel": {lang: "DM"}}})
    reply = suggest(book, lang=lang, settings=utility).reply
    assert book.templates[lang].ask_for["account"] in reply and " DM" in reply


@pytest.mark.parametrize("lang", LANGS)
def test_genuine_profane_complaints_get_a_clean_reply_and_a_higher_priority(book, lang):
    angry = suggest(book, lang=lang, cause="defect", text=PROFANE[lang])
    calm = suggest(book, lang=lang, cause="defect", text="")
    assert angry.action == "reply" and angry.priority == "urgent" and calm.priority == "high"
    assert angry.priority_score > calm.priority_score
    for word in PROFANE[lang].replace(",", " ").split():
        if len(word) > 3 and word.isalpha() and word.casefold() in ("fucking", "бля", "мамка"):
            assert word.casefold() not in angry.reply.casefold()


def test_queue_order_complaints_then_questions_then_praise_then_trolls(book):
    complaint = suggest(book, cause="price", text="")
    question = suggest(book, cause="none", text=EXAMPLES["en"][("none", "question")])
    praise = suggest(book, cause="none", none_score=0.95, text=EXAMPLES["en"][("none", "praise")])
    troll = suggest(book, troll=True, troll_score=0.9)
    scores = [s.priority_score for s in (complaint, question, praise, troll)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert [complaint.priority, question.priority, praise.priority, troll.priority] == [
        "high", "normal", "low", "low"
    ]  # fmt: skip


def test_respond_by_is_created_at_plus_the_window_of_the_priority(book):
    posted = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    urgent = suggest(book, text="stranded at the airport, card blocked", created_at=posted)
    assert urgent.priority == "urgent" and urgent.respond_by == posted + timedelta(minutes=30)
    question = suggest(book, cause="none", text="Does it work in Canada?", created_at=posted)
    assert question.respond_by == posted + timedelta(minutes=240)
    assert suggest(book, text="x").respond_by is None
    assert suggest(book, troll=True, troll_score=0.9, created_at=posted).respond_by is None
    quick = book.settings.merged({"respond_within_minutes": {"urgent": 5}})
    assert suggest(book, text="stranded", created_at=posted, settings=quick).respond_by == posted + timedelta(
        minutes=5
    )


def test_compensation_only_when_configured(book):
    settings = book.settings.merged(
        {"compensation": {"causes": ["defect"], "offer": {lang: f"offer-{lang}" for lang in LANGS}}}
    )
    assert "offer-en" in suggest(book, cause="defect", settings=settings).reply
    assert "offer-en" not in suggest(book, cause="price", settings=settings).reply
    with pytest.raises(ValidationError, match="offer is missing"):
        book.settings.merged({"compensation": {"causes": ["defect"], "offer": {"en": "x"}}})


def test_replies_rotate_deterministically_and_never_repeat_back_to_back(book):
    rows = [
        {
            "lang": "uk",
            "cause": "defect",
            "cause_score": 0.9,
            "troll": False,
            "troll_score": 0.0,
            "key": str(i),
        }
        for i in range(40)
    ]
    first = book.suggest_batch(rows)
    again = book.suggest_batch(rows)
    assert [s.reply for s in first] == [s.reply for s in again]
    assert len({s.reply for s in first}) >= 2
    assert all(a.reply != b.reply for a, b in itertools.pairwise(first))


def test_trolls_spam_and_flame_get_no_reply_and_the_worst_are_reported(book):
    mild = suggest(book, troll=True, troll_score=0.6, text="buy followers at spam.example")
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
    ["<script>alert(1)</script>", "Anna\nPS: you are fired", "A" * 500, "Anna 😀", "Robert'); DROP TABLE--",
     "http://spam.example", "   ", "Anna\u202eevil"],
)  # fmt: skip
def test_hostile_names_never_reach_the_reply(book, name):
    assert sanitize_name(name) is None
    reply = suggest(book, name=name).reply
    assert reply.startswith("Hello,\n")


def test_settings_override_per_call(book):
    settings = book.settings.merged({"brand": "Zetta", "response_time_hours": 5})
    reply = suggest(book, lang="ru", settings=settings).reply
    assert "Zetta" in reply and "5 часов" in reply
    with pytest.raises(ValidationError):
        book.settings.merged({"response_time_hours": 0})
    with pytest.raises(ValidationError):
        book.settings.merged({"brandd": "typo"})
    with pytest.raises(ValidationError):
        book.settings.merged({"profile": {"industry": "casino"}})


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
        (lambda v: v["next_step"].__setitem__("ask", "Write to us."), "missing placeholder"),
        (lambda v: v["causes"]["price"].__setitem__(0, "Sorry {customer}"), "unknown placeholder"),
        (lambda v: v["causes"].__setitem__("delivery", ["x", "y"]), "unknown cause"),
        (lambda v: v["causes"].pop("rudeness"), "missing cause"),
        (lambda v: v["subcases"].pop("refund"), "missing sub-case"),
        (lambda v: v["subcases"]["refund"]["match"].append("(unclosed"), "bad pattern"),
        (lambda v: v["subcases"]["praise"]["replies"].append("Please contact support."), "forbidden phrase"),
        (lambda v: v["causes"]["defect"].append("Our team is already checking it."), "forbidden phrase"),
        (lambda v: v["greeting"].__setitem__("with_name", "Hello {name"), "malformed template"),
    ],
)
def test_bad_templates_fail_at_load_time_with_the_file(tmp_path, change, message):
    folder = _broken_copy(tmp_path, "en", change)
    with pytest.raises(ReplyConfigError, match=message) as caught:
        ReplyBook.load(folder)
    assert "en.yaml" in str(caught.value)


def test_bad_settings_fail_at_load_time_with_the_file(tmp_path):
    folder = tmp_path / "replies"
    shutil.copytree(REPLIES, folder)
    (folder / "settings.yaml").write_text("profile: {industry: casino}\n", encoding="utf-8")
    with pytest.raises(ReplyConfigError, match=r"settings\.yaml"):
        ReplyBook.load(folder)


def test_missing_reply_configuration_is_reported(tmp_path):
    with pytest.raises(ReplyConfigError, match="not found"):
        ReplyBook.load(tmp_path)


def test_complaints_list_matches_labels():
    assert set(COMPLAINTS) == set(CAUSES) - {"none"}


@pytest.mark.parametrize(
    ("lang", "signature"),
    [
        ("en", "Kind regards, the support team"),
        ("ru", "С уважением, служба поддержки"),
        ("uk", "З повагою, служба підтримки"),
        ("bg", "С уважение, екипът за обслужване на клиенти"),
    ],
)
def test_without_a_brand_replies_sign_as_the_support_team_and_name_no_company(book, lang, signature):
    assert book.settings.brand is None  # the default profile fits any company
    for cause in ("defect", "price", "none"):
        reply = suggest(book, lang=lang, cause=cause).reply
        if reply:
            assert reply.endswith(signature) and "None" not in reply and "{" not in reply
    branded = suggest(book, lang=lang, settings=book.settings.merged({"brand": "Zetta"})).reply
    assert "Zetta" in branded.splitlines()[-1] and not branded.endswith(signature)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("they charged me £1,900 for nothing", "£1,900"),  # not £1,90: the reader's finding
        ("paid £5,964 twice", "£5,964"),
        ("з картки зняли 1 250,50 грн", "1 250,50 грн"),
        ("€1.250,00 taken from my account", "€1.250,00"),
        ("$1,299.99 and no refund", "$1,299.99"),
        ("2,000 UAH за що?", "2,000 UAH"),
        ("заплатих 35,50 лв. за нищо", "35,50 лв."),
        ("списали 450 руб", "450 руб"),
    ],
)
def test_amounts_keep_their_thousands(text, amount):
    from triage.serve.replies.details import find_details

    assert find_details(text).amount == amount
