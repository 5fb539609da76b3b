"""A learned sub-case chooser: TF-IDF n-grams and one logistic-regression head per cause.

Why it exists beside the patterns: `benchmarks/subcases.py --select` compares both by
cross-validation on training data (data/README.md, "The sub-case set") and the reply book uses
whichever that measurement chose. Why this form: the same plain-array inference path as the
fast TF-IDF model (`FastTfidf`, `LinearHead`), stored as JSON + `.npz` read without pickle, so
loading it never runs code; scikit-learn only fits it (`triage.train.subcase_fit`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from triage.models.fast_linear import LinearHead
from triage.models.fast_tfidf import FastTfidf, TextBatch
from triage.models.persist import read_arrays, read_json, write_arrays, write_json
from triage.serve.replies.subcases import METHODS, SUBCASES

MODEL_JSON = "subcase_model.json"
MODEL_ARRAYS = "subcase_model.npz"


@dataclass
class LearnedSubcases:
    """Shared vectorisers and one head per cause; `choose` always names a sub-case."""

    vectorizers: list[FastTfidf]
    heads: dict[str, LinearHead]
    method: str = "learned"
    """How the reply book combines it with the patterns (one of METHODS but `patterns`)."""
    about: dict[str, Any] = field(default_factory=dict)
    """How it was fitted (data, settings, the selection figures): kept in the JSON for people."""

    def features(self, texts: Sequence[str]) -> list:
        """The vectorisers' blocks (one sparse matrix each) for a batch of texts."""
        batch = TextBatch(list(texts))
        return [v.transform(batch) for v in self.vectorizers]

    def proba(self, cause: str, texts: Sequence[str]) -> np.ndarray:
        """Probabilities over `heads[cause].classes` for each text."""
        return self.heads[cause].predict_proba(self.features(texts))

    def choose(self, cause: str, text: str) -> str | None:
        """The most probable sub-case of `cause` for one text (see `choose_many`)."""
        return self.choose_many(cause, [text])[0] if cause in self.heads else None

    def choose_many(self, cause: str, texts: Sequence[str]) -> list[str | None]:
        """The most probable sub-case of `cause` for each text; None for a text without a word the
        chooser knows ("...", emoji, empty): there only punctuation or the intercepts would
        speak, and the cause's generic reply (or the patterns) is the honest answer."""
        head = self.heads[cause]
        blocks = self.features(texts)
        words = [b for b, v in zip(blocks, self.vectorizers, strict=True) if v.analyzer == "word"]
        known = np.zeros(len(texts), dtype=bool)
        for block in words or blocks:
            known |= np.diff(block.indptr) > 0
        best = head.predict_proba(blocks).argmax(axis=1)
        return [str(head.classes[b]) if k else None for b, k in zip(best, known, strict=True)]

    def save(self, folder: Path) -> list[Path]:
        """Write `subcase_model.json` and `.npz` into `folder`; returns the two paths."""
        settings: dict[str, Any] = {
            "method": self.method,
            "about": self.about,
            "vectorizers": [],
            "heads": {},
        }
        arrays: dict[str, np.ndarray] = {}
        for i, vectorizer in enumerate(self.vectorizers):
            part, part_arrays = vectorizer.to_arrays(f"vectorizer{i}")
            settings["vectorizers"].append(part)
            arrays.update(part_arrays)
        for cause, head in self.heads.items():
            settings["heads"][cause], head_arrays = head.to_arrays(f"head.{cause}")
            arrays.update(head_arrays)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / MODEL_JSON, settings)
        write_arrays(folder / MODEL_ARRAYS, arrays)
        return [folder / MODEL_JSON, folder / MODEL_ARRAYS]

    @classmethod
    def load(cls, folder: Path) -> "LearnedSubcases":
        """The chooser from `save`'s files; shapes and labels are checked against `SUBCASES`."""
        settings, arrays = read_json(folder / MODEL_JSON), read_arrays(folder / MODEL_ARRAYS)
        vectorizers = [
            FastTfidf.from_arrays(f"vectorizer{i}", part, arrays)
            for i, part in enumerate(settings["vectorizers"])
        ]
        heads = {
            cause: LinearHead.from_arrays(f"head.{cause}", spec, arrays)
            for cause, spec in settings["heads"].items()
        }
        return cls(vectorizers, heads, settings["method"], settings.get("about", {})).check()

    def check(self) -> "LearnedSubcases":
        """Refuse heads that do not fit the vectorisers or name labels the templates lack."""
        if self.method not in METHODS[1:]:
            raise ValueError(f"sub-case method {self.method!r} is not one of {list(METHODS[1:])}")
        n_features = sum(v.n_features for v in self.vectorizers)
        for cause, head in self.heads.items():
            if cause not in SUBCASES or not set(head.classes.tolist()) <= set(SUBCASES[cause]):
                raise ValueError(f"sub-case head {cause!r} has labels {head.classes.tolist()} unknown here")
            if head.coef.shape[0] != n_features:
                raise ValueError(f"sub-case head {cause!r} does not match the vectorisers' feature count")
        return self


def learned_from(folder: Path) -> LearnedSubcases | None:
    """The learned chooser stored beside the reply templates, or None where there is none."""
    if not (folder / MODEL_JSON).is_file():
        return None
    return LearnedSubcases.load(folder)
