"""Language identification for ru/uk/bg/en, with `other` for anything else.

Off-the-shelf detectors tell Russian, Ukrainian and Bulgarian apart well in Cyrillic, but
they fail on how people actually type: transliterated Russian, Bulgarian "shlyokavitsa",
Ukrainian without і/ї/є. So the four languages are told apart by a character n-gram
classifier trained on the corpus. Whether a text is in some *other* language is decided by
its script, by letters only other Cyrillic languages use, and by lingua (a maintained,
offline detector) where lingua is reliable: English vs. other Latin-script languages.
See README "Language identification" for the measured accuracy of each option.
"""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from triage.models.labels import LANGS, OTHER_LANG
from triage.models.normalize import feature_text

# Languages a comment on a ru/uk/bg/en page is likely to be written in instead.
_OTHER_LANGUAGES = (
    "GERMAN",
    "FRENCH",
    "SPANISH",
    "ITALIAN",
    "PORTUGUESE",
    "DUTCH",
    "POLISH",
    "CZECH",
    "SLOVAK",
    "SLOVENE",
    "CROATIAN",
    "SERBIAN",
    "BOSNIAN",
    "MACEDONIAN",
    "BELARUSIAN",
    "KAZAKH",
    "ROMANIAN",
    "HUNGARIAN",
    "TURKISH",
    "GREEK",
    "SWEDISH",
    "FINNISH",
    "LITHUANIAN",
    "LATVIAN",
    "ESTONIAN",
    "ALBANIAN",
    "ARMENIAN",
    "GEORGIAN",
    "AZERBAIJANI",
    "ARABIC",
    "HEBREW",
    "CHINESE",
    "JAPANESE",
    "KOREAN",
    "HINDI",
    "VIETNAMESE",
)
# Cyrillic letters of Belarusian, Serbian, Macedonian and Kazakh that ru/uk/bg never use.
_OTHER_CYRILLIC = frozenset("ўјљњћђџѓќѕқғүұәөһң")
_OURS = {"RUSSIAN": "ru", "UKRAINIAN": "uk", "BULGARIAN": "bg", "ENGLISH": "en"}


def _script_profile(text: str) -> tuple[int, int, int, int]:
    """Letters in total, Cyrillic letters, Latin letters, and Latin letters beyond ASCII."""
    letters = cyrillic = latin = accented = 0
    for char in text:
        if char.isalpha():
            letters += 1
            name = unicodedata.name(char, "")
            if name.startswith("CYRILLIC"):
                cyrillic += 1
            elif name.startswith("LATIN"):
                latin += 1
                accented += not char.isascii()
    return letters, cyrillic, latin, accented


def build_lingua_detector():
    """lingua restricted to our four languages and the likely others (smaller, faster)."""
    from lingua import Language, LanguageDetectorBuilder

    names = (*_OURS, *_OTHER_LANGUAGES)
    return LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in names)).build()


def lingua_code(language_name: str) -> str:
    """Our code for a lingua language name: ru/uk/bg/en or `other`."""
    return _OURS.get(language_name, OTHER_LANG)


@dataclass
class LangIdConfig:
    ngram_range: tuple[int, int] = (1, 4)
    c: float = 20.0
    other_min_confidence: float = 0.4
    """How sure lingua must be of another language for a Latin-script text to be `other`."""
    other_min_letters: int = 12
    """Shorter texts carry too little evidence to call them another language."""


class LanguageIdentifier:
    """Corpus-trained classifier for the four languages plus a lingua gate for `other`."""

    def __init__(self, config: LangIdConfig | None = None):
        self.config = config or LangIdConfig()
        self.pipeline: Pipeline | None = None

    def fit(self, texts: Sequence[str], langs: Sequence[str]) -> "LanguageIdentifier":
        self.pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=self.config.ngram_range,
                        preprocessor=feature_text,
                        sublinear_tf=True,
                        dtype=np.float32,
                    ),
                ),
                ("clf", LogisticRegression(C=self.config.c, max_iter=3000)),
            ]
        ).fit(texts, langs)
        return self

    @cached_property
    def _lingua(self):
        return build_lingua_detector()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lingua", None)  # rebuilt on demand; the detector is not picklable
        return state

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Language code per text (one of `LANGS` or `other`) and the classifier's confidence."""
        if self.pipeline is None:
            raise RuntimeError("the language identifier is not fitted")
        proba = self.pipeline.predict_proba(texts)
        classes = list(self.pipeline.classes_)
        order = [classes.index(lang) for lang in LANGS]
        proba = proba[:, order]
        best = proba.argmax(axis=1)
        confidence = proba[np.arange(len(texts)), best]
        langs = [LANGS[i] for i in best]
        for i, text in enumerate(texts):
            if self._is_other(text, langs[i]):
                langs[i] = OTHER_LANG
        return langs, confidence

    def _is_other(self, text: str, guess: str) -> bool:
        """Decide `other` from the script, marker letters, then lingua where it is reliable.

        Cyrillic: letters that ru/uk/bg never use (ў, ј, љ, қ, ...) mark Belarusian, Serbian,
        Macedonian or Kazakh. Latin: lingua is trusted for English vs. other languages; it is
        not trusted on transliterated Russian/Bulgarian (it takes them for Slovak or Bosnian)
        unless the text has letters with diacritics, which transliteration does not use.
        """
        letters, cyrillic, latin, accented = _script_profile(text)
        if letters == 0 or cyrillic + latin < letters / 2:
            return True
        if cyrillic >= latin:
            return any(char in _OTHER_CYRILLIC for char in text.casefold())
        if letters < self.config.other_min_letters:
            return False
        top = self._lingua_top(text)
        if top is None or top[0] in _OURS or top[1] < self.config.other_min_confidence:
            return False
        return guess == "en" or accented > 0

    def _lingua_top(self, text: str) -> tuple[str, float] | None:
        values = self._lingua.compute_language_confidence_values(text)
        return (values[0].language.name, values[0].value) if values else None
