"""Behavioural tests in the CheckList style: does the model survive how people really type?

Accuracy on a test split says how often the model is right; these say *why* it fails. Each
test perturbs held-out comments in a way that must not change the answer (invariance), must
move a score one way (direction), or checks short unmistakable cases (minimum functionality),
and reports a pass rate per language. `tests/behavior/` asserts floors on them and
`benchmarks/robustness.py` writes them to `reports/robustness.json`.
"""

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from triage.models.artifact import TriageModel
from triage.models.labels import LANGS
from triage.train.corpus import AUGMENTED

BEHAVIOR_DIR = Path("data/behavior")

# Latin and Cyrillic letters that look alike; mixed in to dodge filters, or by keyboard slips.
CYRILLIC_TO_LATIN = dict(zip("аеорсухіјАВЕКМНОРСТХІ", "aeopcyxijABEKMHOPCTXI", strict=True))
LATIN_TO_CYRILLIC = {latin: cyrillic for cyrillic, latin in CYRILLIC_TO_LATIN.items()}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
EMOJI = ("🙂", "😕", "📦", "👀", "🤔", "🙏")
NAMES = {
    "ru": ("Ольга", "Дмитрий", "Анна", "Сергей"),
    "uk": ("Оксана", "Тарас", "Ірина", "Богдан"),
    "bg": ("Милена", "Георги", "Десислава", "Стоян"),
    "en": ("Emily", "James", "Priya", "Tom"),
}
BRANDS = ("Nordline", "Vesta", "Polar Telecom", "ShopMax")
INSULTS = {
    "ru": "Вы все там идиоты и дебилы.",
    "uk": "Ви всі там ідіоти і дебіли.",
    "bg": "Всички сте идиоти и малоумници.",
    "en": "You are all idiots and morons.",
}
THANKS = {
    "ru": "Спасибо, всё отлично.",
    "uk": "Дякую, все чудово.",
    "bg": "Благодаря, всичко е чудесно.",
    "en": "Thank you, everything is great.",
}


@dataclass
class Answers:
    causes: list[str]
    trolls: np.ndarray
    troll_scores: np.ndarray


Predict = Callable[[Sequence[str]], Answers]


def model_predict(model: TriageModel) -> Predict:
    def predict(texts: Sequence[str]) -> Answers:
        scores = model.score(texts)
        return Answers(scores.causes, scores.trolls, scores.troll_proba)

    return predict


# --- perturbations: (text, lang, rng) -> text -----------------------------------------------


def _words(text: str) -> list[str]:
    return text.split(" ")


def upper_case(text: str, lang: str, rng: random.Random) -> str:
    return text.upper()


def lower_case(text: str, lang: str, rng: random.Random) -> str:
    return text.lower()


def spaces_and_punctuation(text: str, lang: str, rng: random.Random) -> str:
    """Doubled spaces, spaces before commas and full stops, emphatic endings. Not "?": a question
    mark turns a statement into a question, which may rightly change the answer."""
    words = _words(text)
    spaced = "".join(w + (" " * rng.randint(1, 3)) for w in words).rstrip()
    return spaced.replace(",", " ,").replace(".", " .") + rng.choice(("!!!", " ...", "!", " !!"))


def emoji_appended(text: str, lang: str, rng: random.Random) -> str:
    return f"{text} {rng.choice(EMOJI)}"


def typos(text: str, lang: str, rng: random.Random) -> str:
    """One or two keyboard slips (swap, drop or double a letter) inside words of 4+ letters."""
    words = _words(text)
    candidates = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 4]
    for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 2))):
        word = words[i]
        letters = [j for j in range(1, len(word) - 1) if word[j].isalpha() and word[j + 1].isalpha()]
        if not letters:
            continue
        j = rng.choice(letters)
        kind = rng.choice(("swap", "drop", "double"))
        if kind == "swap":
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif kind == "drop":
            word = word[:j] + word[j + 1 :]
        else:
            word = word[: j + 1] + word[j:]
        words[i] = word
    return " ".join(words)


def look_alike_letters(text: str, lang: str, rng: random.Random) -> str:
    """Latin look-alikes in Cyrillic text, Cyrillic ones in Latin-script text (a third of them)."""
    latin = sum("a" <= c.lower() <= "z" for c in text)
    table = LATIN_TO_CYRILLIC if latin > len(text) / 4 else CYRILLIC_TO_LATIN
    return "".join(table[c] if c in table and rng.random() < 0.34 else c for c in text)


def zero_width(text: str, lang: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 15)):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(ZERO_WIDTH))
    return "".join(chars)


def stretched_letters(text: str, lang: str, rng: random.Random) -> str:
    """A vowel held for emphasis in one or two words: "ужаааасно", "sooooo"."""
    words = _words(text)
    vowels = set("аеиоуыэюяіїєъaeiouy")
    candidates = [i for i, w in enumerate(words) if any(c.lower() in vowels for c in w[1:])]
    for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 2))):
        word = words[i]
        j = next(k for k in range(1, len(word)) if word[k].lower() in vowels)
        words[i] = word[:j] + word[j] * rng.randint(3, 6) + word[j + 1 :]
    return " ".join(words)


INVARIANCES: dict[str, tuple[Callable[[str, str, random.Random], str], ...]] = {
    "case": (upper_case, lower_case),
    "spaces_and_punctuation": (spaces_and_punctuation,),
    "emoji_appended": (emoji_appended,),
    "typos": (typos,),
    "look_alike_letters": (look_alike_letters,),
    "zero_width_characters": (zero_width,),
    "stretched_letters": (stretched_letters,),
}


# --- the suite -------------------------------------------------------------------------------


def _result(kind: str, passed: np.ndarray, langs: Sequence[str], failures: list[dict]) -> dict:
    langs = np.asarray(langs)
    by_lang = {
        lang: round(float(passed[langs == lang].mean()), 4) for lang in LANGS if (langs == lang).any()
    }
    return {
        "kind": kind,
        "n": len(passed),
        "pass_rate": round(float(passed.mean()), 4) if len(passed) else None,
        "by_lang": by_lang,
        "failures": failures[:3],
    }


def _same(a: Answers, b: Answers) -> np.ndarray:
    return (np.asarray(a.causes) == np.asarray(b.causes)) & (a.trolls == b.trolls)


def invariance(predict: Predict, frame: pd.DataFrame, perturbations, seed: int = 0) -> dict:
    """Cause and troll decision unchanged under every perturbation of the group."""
    base = predict(frame.text.tolist())
    passed = np.ones(len(frame), dtype=bool)
    failures = []
    for perturb in perturbations:
        rng = random.Random(seed)
        changed = [perturb(t, lang, rng) for t, lang in zip(frame.text, frame.lang, strict=True)]
        after = predict(changed)
        same = _same(base, after)
        passed &= same
        for i in np.flatnonzero(~same)[:3]:
            failures.append(
                {
                    "text": frame.text.iloc[i],
                    "changed": changed[i],
                    "before": [base.causes[i], bool(base.trolls[i])],
                    "after": [after.causes[i], bool(after.trolls[i])],
                }
            )
    return _result("INV", passed, frame.lang.tolist(), failures)


def different_names(predict: Predict, frame: pd.DataFrame, seed: int = 0) -> dict:
    """Which customer signs the comment, or which brand it addresses, changes nothing."""
    rng = random.Random(seed)
    signed = []
    for text, lang in zip(frame.text, frame.lang, strict=True):
        first, second = rng.sample(NAMES[lang], 2)
        brand_a, brand_b = rng.sample(BRANDS, 2)
        signed.append((f"{brand_a}, {text} {first}", f"{brand_b}, {text} {second}"))
    a = predict([s[0] for s in signed])
    b = predict([s[1] for s in signed])
    same = _same(a, b)
    failures = [{"a": signed[i][0], "b": signed[i][1]} for i in np.flatnonzero(~same)[:3]]
    return _result("INV", same, frame.lang.tolist(), failures)


def insult_raises_troll_score(predict: Predict, frame: pd.DataFrame) -> dict:
    """An insult added to a genuine comment makes it look more like trolling."""
    base = predict(frame.text.tolist())
    insulted = [f"{t} {INSULTS[lang]}" for t, lang in zip(frame.text, frame.lang, strict=True)]
    after = predict(insulted)
    passed = after.troll_scores > base.troll_scores
    failures = [{"text": insulted[i]} for i in np.flatnonzero(~passed)[:3]]
    return _result("DIR", passed, frame.lang.tolist(), failures)


def thanks_keep_cause(predict: Predict, frame: pd.DataFrame) -> dict:
    """A polite "thank you, everything is great" does not change what a complaint is about."""
    base = predict(frame.text.tolist())
    thanked = [f"{t} {THANKS[lang]}" for t, lang in zip(frame.text, frame.lang, strict=True)]
    after = predict(thanked)
    passed = np.asarray(base.causes) == np.asarray(after.causes)
    failures = [{"text": thanked[i], "after": after.causes[i]} for i in np.flatnonzero(~passed)[:3]]
    return _result("DIR", passed, frame.lang.tolist(), failures)


def expected_labels(predict: Predict, cases: pd.DataFrame, check: str) -> dict:
    """Minimum functionality: the labels of short cases written to be unmistakable."""
    answers = predict(cases.text.tolist())
    if check == "cause":
        passed = np.asarray(answers.causes) == cases.cause.to_numpy()
    else:
        passed = answers.trolls == cases.troll.to_numpy(bool)
    failures = [
        {"text": cases.text.iloc[i], "got": [answers.causes[i], bool(answers.trolls[i])]}
        for i in np.flatnonzero(~passed)[:3]
    ]
    return _result("MFT", passed, cases.lang.tolist(), failures)


def held_out_sample(test: pd.DataFrame, per_lang: int = 60, seed: int = 0) -> pd.DataFrame:
    """Written (not generated) test-split comments, the same number per language."""
    written = test[test.source != AUGMENTED] if "source" in test else test
    parts = [rows.sample(min(per_lang, len(rows)), random_state=seed) for _, rows in written.groupby("lang")]
    return pd.concat(parts).reset_index(drop=True)


def read_cases(name: str, behavior_dir: Path = BEHAVIOR_DIR) -> pd.DataFrame:
    return pd.read_json(behavior_dir / name, lines=True, dtype={"troll": bool})


def run_suite(predict: Predict, test: pd.DataFrame, behavior_dir: Path = BEHAVIOR_DIR) -> dict:
    """Every behavioural test on a sample of the test split; name -> result."""
    sample = held_out_sample(test)
    results = {name: invariance(predict, sample, group) for name, group in INVARIANCES.items()}
    results["different_names"] = different_names(predict, sample)
    genuine = sample[~sample.troll.astype(bool)]
    neutral = genuine[genuine.cause == "none"]
    results["insult_raises_troll_score"] = insult_raises_troll_score(predict, neutral)
    results["thanks_keep_cause"] = thanks_keep_cause(predict, genuine[genuine.cause != "none"])
    results["minimum_cause"] = expected_labels(predict, read_cases("minimum.jsonl", behavior_dir), "cause")
    results["obfuscated_trolls"] = expected_labels(
        predict, read_cases("obfuscated_trolls.jsonl", behavior_dir), "troll"
    )
    return results


def summary_table(results: dict) -> str:
    return json.dumps({name: r["pass_rate"] for name, r in results.items()}, indent=2)
