"""Language identification for ru/uk/bg/en, with `other` for anything else.

Off-the-shelf detectors tell Russian, Ukrainian and Bulgarian apart well in Cyrillic, but
they fail on how people actually type: transliterated Russian, Bulgarian "shlyokavitsa",
Ukrainian without і/ї/є. So the four languages are told apart by a character n-gram
classifier trained on the corpus. Whether a text is in some *other* language is decided by
its script, by letters only other Cyrillic languages use, and by lingua (a maintained,
offline detector) where lingua is reliable: English vs. other Latin-script languages.
See docs/benchmarks.md ("Language identification") for the measured accuracy of each option.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from triage.models import fast_tfidf
from triage.models.fast_linear import LinearHead
from triage.models.fast_tfidf import FastTfidf, TextBatch
from triage.models.labels import LANGS, OTHER_LANG
from triage.models.normalize import feature_text
from triage.models.persist import read_arrays, read_json, write_arrays, write_json

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
STATE_JSON = "langid.json"
STATE_ARRAYS = "langid.npz"
_OURS = {"RUSSIAN": "ru", "UKRAINIAN": "uk", "BULGARIAN": "bg", "ENGLISH": "en"}


@lru_cache(maxsize=8192)
def _char_script(char: str) -> str:
    """`cyrillic`, `latin`, `accented` (Latin beyond ASCII), `letter` (other scripts) or ``."""
    if not char.isalpha():
        return ""
    name = unicodedata.name(char, "")
    if name.startswith("CYRILLIC"):
        return "cyrillic"
    if name.startswith("LATIN"):
        return "latin" if char.isascii() else "accented"
    return "letter"


def _script_profile(text: str) -> tuple[int, int, int, int]:
    """Letters in total, Cyrillic letters, Latin letters, and Latin letters beyond ASCII."""
    counts = {"cyrillic": 0, "latin": 0, "accented": 0, "letter": 0, "": 0}
    for char, count in Counter(text).items():
        counts[_char_script(char)] += count
    latin = counts["latin"] + counts["accented"]
    letters = counts["cyrillic"] + latin + counts["letter"]
    return letters, counts["cyrillic"], latin, counts["accented"]


_WORD = re.compile(r"[^\W\d_]+")


def _words(feature: str) -> list[str]:
    """Words of a feature text (see `feature_text`)."""
    return _WORD.findall(feature)


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
    english_share: float = 0.75
    """A Latin-script text taken for English whose words are at least this share of words seen
    in two or more English training comments is English without asking lingua (~1 ms a text)."""


class LanguageIdentifier:
    """Corpus-trained classifier for the four languages plus a lingua gate for `other`."""

    def __init__(self, config: LangIdConfig | None = None):
        self.config = config or LangIdConfig()
        self.pipeline: Pipeline | None = None
        self.english_words: frozenset[str] = frozenset()

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
        english = (text for text, lang in zip(texts, langs, strict=True) if lang == "en")
        seen = Counter(word for text in english for word in set(_words(feature_text(text))))
        self.english_words = frozenset(word for word, count in seen.items() if count >= 2)
        return self

    def _plainly_english(self, feature: str) -> bool:
        words = _words(feature)
        known = getattr(self, "english_words", frozenset())
        return len(words) >= 3 and sum(w in known for w in words) >= self.config.english_share * len(words)

    @cached_property
    def _lingua(self):
        return build_lingua_detector()

    @cached_property
    def _fast(self) -> tuple[FastTfidf, LinearHead] | None:
        """The NumPy inference path (see `fast_tfidf`), built on first use."""
        if self.pipeline is None:
            raise RuntimeError("the language identifier is not fitted")
        vectorizer, classifier = self.pipeline["tfidf"], self.pipeline["clf"]
        if not fast_tfidf.supported(vectorizer):
            return None
        return FastTfidf(vectorizer), LinearHead.from_logistic(classifier)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lingua", None)  # rebuilt on demand; the detector is not picklable
        if state.get("pipeline") is not None:
            state.pop("_fast", None)  # derived from the pipeline; a loaded model has only this
        return state

    @property
    def classes(self) -> list[str]:
        """The languages of the classifier's columns."""
        if self.pipeline is not None:
            return [str(c) for c in self.pipeline.classes_]
        fast = self.__dict__.get("_fast")
        if fast is None:
            raise RuntimeError("the language identifier is not fitted")
        return [str(c) for c in fast[1].classes]

    # --- artifact files (plain JSON + arrays: see `triage.models.persist`) -----------------
    def save_state(self, folder: Path) -> list[str]:
        """Write the config, English word list, hashed vocabulary and head; returns the files."""
        fast = self._fast
        if fast is None:
            raise ValueError("this language identifier has no plain-array form; it cannot be saved")
        vectorizer, head = fast
        vectorizer_settings, arrays = vectorizer.to_arrays("tfidf")
        head_settings, head_arrays = head.to_arrays("clf")
        settings = {
            "config": asdict(self.config),
            "english_words": sorted(self.english_words),
            "tfidf": vectorizer_settings,
            "clf": head_settings,
        }
        write_json(folder / STATE_JSON, settings)
        write_arrays(folder / STATE_ARRAYS, {**arrays, **head_arrays})
        return [STATE_JSON, STATE_ARRAYS]

    @classmethod
    def load_state(cls, folder: Path) -> "LanguageIdentifier":
        settings, arrays = read_json(folder / STATE_JSON), read_arrays(folder / STATE_ARRAYS)
        config = dict(settings["config"])
        config["ngram_range"] = tuple(config["ngram_range"])
        identifier = cls(LangIdConfig(**config))
        identifier.english_words = frozenset(str(w) for w in settings["english_words"])
        vectorizer = FastTfidf.from_arrays("tfidf", settings["tfidf"], arrays)
        head = LinearHead.from_arrays("clf", settings["clf"], arrays)
        if (
            sorted(str(c) for c in head.classes) != sorted(LANGS)
            or head.coef.shape[0] != vectorizer.n_features
        ):
            raise ValueError("the language classifier does not match its languages or vocabulary")
        identifier.__dict__["_fast"] = (vectorizer, head)
        return identifier

    def _proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._fast is None:
            return self.pipeline.predict_proba(texts)
        vectorizer, head = self._fast
        batch = texts if isinstance(texts, TextBatch) else TextBatch(texts)
        return head.predict_proba([vectorizer.transform(batch)])

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Language code per text (one of `LANGS` or `other`) and the classifier's confidence."""
        classes = self.classes
        batch = texts if isinstance(texts, TextBatch) else TextBatch(texts)
        proba = self._proba(batch)
        order = [classes.index(lang) for lang in LANGS]
        proba = proba[:, order]
        best = proba.argmax(axis=1)
        confidence = proba[np.arange(len(texts)), best]
        langs = [LANGS[i] for i in best]
        for i, text in enumerate(batch):
            if self._is_other(text, batch.features[i], langs[i]):
                langs[i] = OTHER_LANG
        return langs, confidence

    def _is_other(self, text: str, feature: str, guess: str) -> bool:
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
            return not _OTHER_CYRILLIC.isdisjoint(text.casefold())
        if letters < self.config.other_min_letters:
            return False
        if accented == 0 and (guess != "en" or self._plainly_english(feature)):
            return False  # transliteration is not lingua's to judge; plain English needs no check
        top = self._lingua_top(text)
        if top is None or top[0] in _OURS or top[1] < self.config.other_min_confidence:
            return False
        return guess == "en" or accented > 0

    def warm_up(self) -> None:
        """Load lingua's models now (seconds, once) instead of on the first Latin-script comment."""
        self._lingua.compute_language_confidence_values("the parcel never arrived and nobody answers")

    def _lingua_top(self, text: str) -> tuple[str, float] | None:
        values = self._lingua.compute_language_confidence_values(text)
        return (values[0].language.name, values[0].value) if values else None
