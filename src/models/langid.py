"""Language identification for ru/uk/bg/en, with `other` for anything else.

Off-the-shelf detectors tell Russian, Ukrainian and Bulgarian apart well in Cyrillic, but
they fail on how people actually type: transliterated Russian, Bulgarian "shlyokavitsa",
Ukrainian without і/ї/є. So the four languages are told apart by a character n-gram
classifier trained on the corpus, and lingua (a maintained, offline detector) only decides
whether a text is in some *other* language: when lingua is confident the text is, say,
German or Polish and our classifier is not confident, the answer is `other`.
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
_OURS = {"RUSSIAN": "ru", "UKRAINIAN": "uk", "BULGARIAN": "bg", "ENGLISH": "en"}


def _letters_in_known_scripts(text: str) -> tuple[int, int]:
    """(letters, letters that are Latin or Cyrillic): other scripts mean another language."""
    letters = known = 0
    for char in text:
        if char.isalpha():
            letters += 1
            name = unicodedata.name(char, "")
            known += name.startswith(("LATIN", "CYRILLIC"))
    return letters, known


@dataclass
class LangIdConfig:
    ngram_range: tuple[int, int] = (1, 4)
    c: float = 20.0
    other_min_confidence: float = 0.6
    """lingua must be at least this sure of another language..."""
    ours_max_confidence: float = 0.9
    """...and our classifier at most this sure of its answer, for the text to be `other`."""
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
        from lingua import Language, LanguageDetectorBuilder

        names = (*_OURS, *_OTHER_LANGUAGES)
        return LanguageDetectorBuilder.from_languages(*(Language[n] for n in names)).build()

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
            if self._is_other(text, float(confidence[i])):
                langs[i] = OTHER_LANG
        return langs, confidence

    def _is_other(self, text: str, our_confidence: float) -> bool:
        letters, known = _letters_in_known_scripts(text)
        if letters == 0:
            return True
        if known < letters / 2:
            return True
        if letters < self.config.other_min_letters or our_confidence > self.config.ours_max_confidence:
            return False
        values = self._lingua.compute_language_confidence_values(text)
        if not values:
            return False
        top = values[0]
        return top.language.name not in _OURS and top.value >= self.config.other_min_confidence
