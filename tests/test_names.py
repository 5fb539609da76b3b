"""Greeting names: 50 common first names per language, the Ukrainian vocative, and what is never greeted."""

import pytest
from triage.serve.replies import ReplyBook
from triage.serve.replies.names import ukrainian_vocative

from tests.conftest import PROJECT

UK_VOCATIVE = dict(
    pair.split(":")
    for pair in [
        "Олена:Олено",
        "Оксана:Оксано",
        "Наталія:Наталіє",
        "Ірина:Ірино",
        "Тетяна:Тетяно",
        "Світлана:Світлано",
        "Юлія:Юліє",
        "Марія:Маріє",
        "Анна:Анно",
        "Ольга:Ольго",
        "Катерина:Катерино",
        "Людмила:Людмило",
        "Галина:Галино",
        "Вікторія:Вікторіє",
        "Софія:Софіє",
        "Анастасія:Анастасіє",
        "Дарина:Дарино",
        "Надія:Надіє",
        "Валентина:Валентино",
        "Лариса:Ларисо",
        "Алла:Алло",
        "Віра:Віро",
        "Христина:Христино",
        "Яна:Яно",
        "Ніна:Ніно",
        "Андрій:Андрію",
        "Олександр:Олександре",
        "Сергій:Сергію",
        "Дмитро:Дмитре",
        "Іван:Іване",
        "Микола:Миколо",
        "Володимир:Володимире",
        "Олег:Олегу",
        "Віктор:Вікторе",
        "Юрій:Юрію",
        "Василь:Василю",
        "Петро:Петре",
        "Михайло:Михайле",
        "Богдан:Богдане",
        "Тарас:Тарасе",
        "Роман:Романе",
        "Максим:Максиме",
        "Ігор:Ігорю",
        "Павло:Павле",
        "Степан:Степане",
        "Олексій:Олексію",
        "Артем:Артеме",
        "Євген:Євгене",
        "Денис:Денисе",
        "Назар:Назаре",
    ]
)
RU_NAMES = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Ирина",
    "Екатерина",
    "Светлана",
    "Юлия",
    "Анастасия",
    "Дарья",
    "Ксения",
    "Марина",
    "Людмила",
    "Галина",
    "Виктория",
    "Полина",
    "Алина",
    "Вера",
    "Надежда",
    "Софья",
    "Евгения",
    "Валентина",
    "Любовь",
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Иван",
    "Михаил",
    "Владимир",
    "Николай",
    "Павел",
    "Максим",
    "Артём",
    "Олег",
    "Игорь",
    "Евгений",
    "Роман",
    "Денис",
    "Юрий",
    "Виктор",
    "Константин",
    "Василий",
    "Антон",
    "Кирилл",
    "Никита",
    "Григорий",
]
BG_NAMES = [
    "Мария",
    "Иванка",
    "Елена",
    "Йорданка",
    "Пенка",
    "Даниела",
    "Радка",
    "Росица",
    "Десислава",
    "Виктория",
    "Гергана",
    "Петя",
    "Надежда",
    "Николина",
    "Цветелина",
    "Силвия",
    "Габриела",
    "Теодора",
    "Милена",
    "Кремена",
    "Снежана",
    "Анелия",
    "Ралица",
    "Катя",
    "Симона",
    "Георги",
    "Иван",
    "Димитър",
    "Николай",
    "Петър",
    "Христо",
    "Стоян",
    "Тодор",
    "Васил",
    "Александър",
    "Стефан",
    "Атанас",
    "Красимир",
    "Пламен",
    "Данаил",
    "Мартин",
    "Борислав",
    "Калоян",
    "Емил",
    "Явор",
    "Веселин",
    "Цветан",
    "Радослав",
    "Любомир",
    "Богдан",
]
EN_NAMES = [
    "Olivia",
    "Emma",
    "Amelia",
    "Sophia",
    "Isla",
    "Ava",
    "Mia",
    "Grace",
    "Lily",
    "Freya",
    "Emily",
    "Chloe",
    "Ella",
    "Jessica",
    "Sarah",
    "Laura",
    "Hannah",
    "Rachel",
    "Megan",
    "Charlotte",
    "Lucy",
    "Anna",
    "Kate",
    "Zoe",
    "Ruth",
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Noah",
    "Leo",
    "Arthur",
    "Oscar",
    "Charlie",
    "Thomas",
    "James",
    "William",
    "Henry",
    "Daniel",
    "David",
    "Michael",
    "Joseph",
    "Samuel",
    "Benjamin",
    "Adam",
    "Ryan",
    "Liam",
    "Aidan",
    "Connor",
    "Patrick",
]
GREETING = {"ru": "Здравствуйте, {}!", "uk": "Вітаємо, {}!", "bg": "Здравейте, {}!", "en": "Hello {},"}


@pytest.fixture(scope="module")
def book() -> ReplyBook:
    return ReplyBook.load(PROJECT / "configs" / "replies")


def greet(book, lang, name, settings=None):
    return book.suggest(
        lang=lang,
        cause="defect",
        cause_score=0.9,
        troll=False,
        troll_score=0.0,
        key="k",
        text="",
        name=name,
        settings=settings,
    ).reply.split("\n")[0]


def test_fifty_names_per_language_are_counted():
    assert len(UK_VOCATIVE) == len(RU_NAMES) == len(BG_NAMES) == len(EN_NAMES) == 50


@pytest.mark.parametrize(("nominative", "vocative"), sorted(UK_VOCATIVE.items()))
def test_ukrainian_greetings_use_the_vocative(book, nominative, vocative):
    assert ukrainian_vocative(nominative) == vocative
    assert greet(book, "uk", nominative) == f"Вітаємо, {vocative}!"


@pytest.mark.parametrize(("lang", "names"), [("ru", RU_NAMES), ("bg", BG_NAMES), ("en", EN_NAMES)])
def test_russian_bulgarian_and_english_greetings_use_the_nominative(book, lang, names):
    for name in names:
        assert greet(book, lang, name) == GREETING[lang].format(name)


def test_unknown_or_latin_names_stay_in_the_nominative_in_ukrainian(book):
    assert greet(book, "uk", "Petrenko") == "Вітаємо, Petrenko!"
    assert ukrainian_vocative("Zzyzx") == "Zzyzx"


def test_only_the_first_name_is_greeted_and_case_is_tidied(book):
    assert greet(book, "ru", "Дарья  Иванова") == "Здравствуйте, Дарья!"
    assert greet(book, "uk", "олена петренко") == "Вітаємо, Олено!"
    assert greet(book, "en", "JAMES") == "Hello James,"


@pytest.mark.parametrize(
    "name",
    [
        "Fuck You",
        "Official Support Team",
        "Admin",
        "Zetta Mobile",
        "Customer Care",
        "@zetta_help",
        "https://spam.example",
        "Служба поддержки",
        "Офіційна підтримка",
        "Модератор",
        "Екип Поддръжка",
        "Хуйло",
        "X",
        "Anna Maria Luisa Beatrice",
    ],
)
@pytest.mark.parametrize("lang", ["ru", "uk", "bg", "en"])
def test_profanity_impersonation_links_and_handles_are_never_greeted(book, lang, name):
    first_line = greet(book, lang, name, book.settings.merged({"brand": "Zetta Mobile"}))
    assert first_line == book.templates[lang].greeting.without_name
