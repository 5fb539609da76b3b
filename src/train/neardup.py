"""Near-duplicate detection over the corpus: character 5-gram Jaccard similarity.

Near-copies inflate test scores (the model has seen the wording in train) and make a corpus
look bigger than it is. Shingles are compared as sparse binary vectors, so the whole corpus
is checked pair by pair in one sparse matrix product instead of a Python double loop.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

DEFAULT_THRESHOLD = 0.6
SHINGLE = 5

_PUNCT = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def shingle_text(text: str) -> str:
    """Case, punctuation and spacing do not make two comments different."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _PUNCT.sub("", text)).strip()


@dataclass(frozen=True)
class NearDuplicate:
    first: int
    second: int
    similarity: float


def near_duplicates(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[NearDuplicate]:
    """Every pair (i < j) with 5-gram Jaccard above `threshold`, most similar first."""
    if len(texts) < 2:
        return []
    vectorizer = CountVectorizer(
        analyzer="char", ngram_range=(SHINGLE, SHINGLE), binary=True, lowercase=False
    )
    # Texts shorter than a shingle still need one feature, so pad them to the shingle length.
    prepared = [shingle_text(t).ljust(SHINGLE) for t in texts]
    matrix = vectorizer.fit_transform(prepared).astype(np.float32).tocsr()
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    overlap = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    union = sizes[overlap.row] + sizes[overlap.col] - overlap.data
    jaccard = overlap.data / union
    keep = jaccard > threshold
    pairs = [
        NearDuplicate(int(i), int(j), float(s))
        for i, j, s in zip(overlap.row[keep], overlap.col[keep], jaccard[keep], strict=True)
    ]
    return sorted(pairs, key=lambda p: (-p.similarity, p.first, p.second))
