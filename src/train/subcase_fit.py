"""Fit the learned sub-case chooser (`triage.serve.replies.learned`) with scikit-learn.

Training rows are the corpus's train split (`data/processed/train.jsonl`, non-troll rows with a
`subcase`) and the sub-case set's `split: train` rows; never the set's test rows or the corpus's
valid and test splits (data/README.md). The fitted vectorisers and heads are converted to the
plain-array inference path at once, so cross-validation measures exactly what would ship.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from triage.models.fast_linear import LinearHead
from triage.models.fast_tfidf import FastTfidf
from triage.models.normalize import feature_text
from triage.serve.replies.learned import LearnedSubcases
from triage.serve.replies.subcases import SUBCASES


@dataclass(frozen=True)
class SubcaseFitConfig:
    """Features and regularisation; `benchmarks/subcases.py --select` compares a few."""

    char_ngram_range: tuple[int, int] = (2, 5)
    word_ngram_range: tuple[int, int] | None = (1, 1)
    c: float = 10.0
    class_weight: str | None = "balanced"
    max_iter: int = 3000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that can teach a sub-case: not trolls, a cause with sub-cases and a known label."""
    return [
        r
        for r in rows
        if not r.get("troll") and r.get("cause") in SUBCASES and r.get("subcase") in SUBCASES[r["cause"]]
    ]


def _vectorizers(config: SubcaseFitConfig) -> list[TfidfVectorizer]:
    common: dict[str, Any] = {"preprocessor": feature_text, "sublinear_tf": True, "dtype": np.float32}
    parts = [TfidfVectorizer(analyzer="char_wb", ngram_range=config.char_ngram_range, min_df=1, **common)]
    if config.word_ngram_range:
        parts.append(
            TfidfVectorizer(
                analyzer="word", ngram_range=config.word_ngram_range, token_pattern=r"(?u)\b\w+\b", **common
            )
        )
    return parts


def fit_learned(
    rows: Sequence[dict[str, Any]],
    config: SubcaseFitConfig | None = None,
    method: str = "learned",
    about: dict[str, Any] | None = None,
) -> LearnedSubcases:
    """One shared set of vectorisers over every training text, one multinomial head per cause."""
    config = config or SubcaseFitConfig()
    rows = training_rows(rows)
    if not rows:
        raise ValueError("no rows with a sub-case to learn from")
    texts = [r["text"] for r in rows]
    parts = _vectorizers(config)
    blocks = [part.fit_transform(texts) for part in parts]
    heads = {}
    for cause in SUBCASES:
        picked = np.array([i for i, r in enumerate(rows) if r["cause"] == cause])
        labels = [rows[i]["subcase"] for i in picked]
        if len(set(labels)) < 2:
            continue
        features = sparse.hstack([b[picked] for b in blocks], format="csr")
        model = LogisticRegression(C=config.c, class_weight=config.class_weight, max_iter=config.max_iter)
        heads[cause] = LinearHead.from_logistic(model.fit(features, labels))
    info = {"config": config.to_dict(), "rows": len(rows), **(about or {})}
    return LearnedSubcases([FastTfidf(p) for p in parts], heads, method, info).check()
