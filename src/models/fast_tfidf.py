"""The transform of a fitted scikit-learn `TfidfVectorizer`, computed with NumPy for whole batches.

Why: scikit-learn builds every n-gram of every comment as a Python string and looks it up in a
dict, about half a millisecond per comment for character 2-5-grams, which caps the HTTP service
and batch scoring far below their targets. Here a batch's n-grams are 64-bit polynomial hashes
of their code points, computed with vectorised array arithmetic, and matched against the
hashed vocabulary by binary search. The features are the vectoriser's own (same vocabulary,
idf, sublinear tf and l2 norm; a test compares both transforms on the corpus and on hostile
text); scikit-learn still does all the fitting. Two distinct strings share a hash with
probability about 2^-64 per pair; `FastTfidf` refuses a vocabulary that has such a pair.
"""

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from triage.models.normalize import feature_text

_MASK = (1 << 64) - 1
_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2^64
_Q = pow(_P, -1, 1 << 64)
_SPACE = ord(" ") + 1
_SUPPORTED_TOKEN_PATTERN = r"(?u)\b\w+\b"


def string_hash(text: str) -> int:
    """Polynomial hash of the code points (+1, so that no digit is zero) modulo 2^64."""
    value = 0
    for char in text:
        value = (value * _P + ord(char) + 1) & _MASK
    return value


class _Powers:
    """P^i and P^-i modulo 2^64 for i up to the longest batch seen (grown on demand)."""

    def __init__(self) -> None:
        self.p = np.ones(1, dtype=np.uint64)
        self.q = np.ones(1, dtype=np.uint64)

    def upto(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.p) <= length:
            size = max(length + 1, 2 * len(self.p))
            one = np.ones(1, dtype=np.uint64)
            self.p = np.concatenate([one, np.cumprod(np.full(size - 1, _P, dtype=np.uint64))])
            self.q = np.concatenate([one, np.cumprod(np.full(size - 1, _Q, dtype=np.uint64))])
        return self.p, self.q


_POWERS = _Powers()


@lru_cache(maxsize=4096)
def _is_word_char(code: int) -> bool:
    """`\\w` of Python's `re` for str patterns: alphanumeric in Unicode, or the underscore."""
    char = chr(code)
    return char.isalnum() or char == "_"


@lru_cache(maxsize=1)
def _bmp_word_table() -> np.ndarray:
    """`\\w` for every code point of the Basic Multilingual Plane, indexed by code point + 1."""
    table = np.zeros(0x10001, dtype=bool)
    table[1:] = [chr(c).isalnum() or c == 0x5F for c in range(0x10000)]
    return table


def _word_mask(codes: np.ndarray) -> np.ndarray:
    """Which positions hold word characters (`codes` are code points + 1)."""
    astral = codes > 0x10000
    mask = _bmp_word_table()[np.where(astral, 0, codes)]
    if astral.any():  # emoji and rarer scripts: few, looked up one distinct code at a time
        distinct, inverse = np.unique(codes[astral], return_inverse=True)
        mask[astral] = np.array([_is_word_char(int(c) - 1) for c in distinct], dtype=bool)[inverse]
    return mask


def _code_points(text: str) -> np.ndarray:
    """Code points + 1 as uint64 (lone surrogates kept, as the str holds them)."""
    raw = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return raw.astype(np.uint64) + np.uint64(1)


class TextBatch(list):
    """A batch of texts with their feature texts and n-gram hashes, computed once and shared.

    A list of the raw texts, so any model kind can take it as its input; the fast vectorisers
    of one model (cause/troll features and language id) reuse the hashes.
    """

    def __init__(self, texts: Sequence[str]):
        super().__init__(texts)
        self.features = [feature_text(text) for text in self]
        self._char_codes: tuple[np.ndarray, np.ndarray] | None = None
        self._char_ngrams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._word_ngrams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._words: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _padded_words(self) -> tuple[np.ndarray, np.ndarray]:
        """The `char_wb` view: each word padded with a space, words joined by those spaces.

        Any substring that spans two words then contains two spaces in a row, which no
        `char_wb` n-gram does, so it never matches the vocabulary.
        """
        if self._char_codes is None:
            docs = [" " + "  ".join(words) + " " if (words := text.split()) else "" for text in self.features]
            starts = np.cumsum([0] + [len(doc) for doc in docs[:-1]], dtype=np.int64)
            self._char_codes = (_code_points("".join(docs)), starts)
        return self._char_codes

    def char_ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of all character n-grams of the padded words, and the document of each."""
        if n not in self._char_ngrams:
            codes, starts = self._padded_words()
            count = max(len(codes) - n + 1, 0)
            hashes = codes[:count].copy()
            for offset in range(1, n):
                hashes *= np.uint64(_P)
                hashes += codes[offset : offset + count]
            docs = np.searchsorted(starts, np.arange(count), side="right") - 1
            self._char_ngrams[n] = (hashes, docs)
        return self._char_ngrams[n]

    def _tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hash, length and document of every maximal run of word characters (`\\b\\w+\\b`)."""
        if self._words is None:
            text = "\n".join(self.features)  # "\n" is not \w: no token spans two texts
            codes = _code_points(text)
            starts = np.cumsum([0] + [len(t) + 1 for t in self.features[:-1]], dtype=np.int64)
            if len(codes) == 0:
                empty = np.zeros(0, dtype=np.int64)
                self._words = (np.zeros(0, dtype=np.uint64), empty, empty)
                return self._words
            word = _word_mask(codes)
            edges = np.diff(np.concatenate([[False], word, [False]]).astype(np.int8))
            begin, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            p, q = _POWERS.upto(len(codes))
            prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(codes * q[: len(codes)])])
            hashes = (prefix[end] - prefix[begin]) * p[end - 1]
            docs = np.searchsorted(starts, begin, side="right") - 1
            self._words = (hashes, end - begin, docs)
        return self._words

    def word_ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the space-joined runs of n consecutive tokens of one text."""
        if n not in self._word_ngrams:
            hashes, lengths, docs = self._tokens()
            count = max(len(hashes) - n + 1, 0)
            combined, same_doc = hashes[:count].copy(), np.ones(count, dtype=bool)
            p, _ = _POWERS.upto(int(lengths.max(initial=0)) + 1)
            for offset in range(1, n):
                part = slice(offset, offset + count)
                combined *= p[lengths[part] + 1]
                combined += np.uint64(_SPACE) * p[lengths[part]] + hashes[part]
                same_doc &= docs[part] == docs[:count]
            self._word_ngrams[n] = (combined[same_doc], docs[:count][same_doc])
        return self._word_ngrams[n]


class HashIndex:
    """An open-addressing hash table from 64-bit keys to columns, probed for whole arrays at once.

    Why not `np.searchsorted` on sorted keys: a binary search costs ~17 cache-missing reads per
    n-gram, a table at most a quarter full answers most look-ups with one.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        if len(np.unique(keys)) != len(keys):
            raise ValueError("two vocabulary entries share a 64-bit hash; use sklearn's transform")
        bits = max(int(np.ceil(np.log2(max(len(keys), 1) * 4))), 4)
        self.shift = np.uint64(64 - bits)
        self.mask = (1 << bits) - 1
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.values = np.full(1 << bits, -1, dtype=np.int64)
        self.max_probes = 0
        slots = self._slots(keys)
        pending = np.arange(len(keys))
        while len(pending):
            # Among keys wanting the same free slot, the first takes it; the rest probe on.
            free = self.values[slots[pending]] == -1
            candidates = pending[free]
            _, first = np.unique(slots[candidates], return_index=True)
            placed = candidates[first]
            self.keys[slots[placed]] = keys[placed]
            self.values[slots[placed]] = values[placed]
            pending = np.setdiff1d(pending, placed, assume_unique=True)
            slots[pending] = (slots[pending] + 1) & self.mask
            self.max_probes += bool(len(pending))

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """Top bits of the mixed key: polynomial hashes of short strings are not uniform enough."""
        mixed = keys ^ (keys >> np.uint64(31))
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(29)
        return (mixed >> self.shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, or -1 for keys not in the table."""
        found = np.full(len(keys), -1, dtype=np.int64)
        slots = self._slots(keys)
        pending = np.arange(len(keys))
        for _ in range(self.max_probes + 1):
            at = slots[pending]
            hit = self.keys[at] == keys[pending]
            found[pending[hit]] = self.values[at[hit]]
            pending = pending[~hit & (self.values[at] != -1)]
            if not len(pending):
                break
            slots[pending] = (slots[pending] + 1) & self.mask
        return found


class FastTfidf:
    """`TfidfVectorizer.transform` of a fitted vectoriser, on a `TextBatch` of feature texts."""

    def __init__(self, vectorizer: TfidfVectorizer):
        self._check_supported(vectorizer)
        hashes = np.fromiter((string_hash(g) for g in vectorizer.vocabulary_), np.uint64)
        columns = np.fromiter(vectorizer.vocabulary_.values(), np.int64)
        settings = {
            "analyzer": vectorizer.analyzer,
            "ngram_range": list(vectorizer.ngram_range),
            "sublinear_tf": bool(vectorizer.sublinear_tf),
            "dtype": np.dtype(vectorizer.dtype).name,
        }
        self._setup(settings, hashes, columns, vectorizer.idf_)

    def _setup(self, settings: dict, hashes: np.ndarray, columns: np.ndarray, idf: np.ndarray) -> None:
        if settings["analyzer"] not in ("char_wb", "word") or settings["dtype"] not in ("float32", "float64"):
            raise ValueError(f"unsupported vectoriser settings {settings}")
        if hashes.shape != columns.shape or len(idf) != len(hashes) or hashes.dtype != np.uint64:
            raise ValueError("vocabulary hashes, columns and idf do not match")
        if len(columns) and (columns.min() < 0 or columns.max() >= len(idf)):
            raise ValueError("vocabulary columns out of range")
        self.analyzer = settings["analyzer"]
        self.ngram_range = tuple(int(n) for n in settings["ngram_range"])
        self.sublinear_tf = bool(settings["sublinear_tf"])
        self.dtype = np.dtype(settings["dtype"]).type
        self.idf = idf.astype(self.dtype)
        self.n_features = len(idf)
        self._hashes, self._columns = hashes, columns
        self.index = HashIndex(hashes, columns)

    def to_arrays(self, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
        """Settings (JSON) and arrays (`.npz`): the hashed vocabulary and idf, no strings."""
        settings = {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "sublinear_tf": self.sublinear_tf,
            "dtype": np.dtype(self.dtype).name,
        }
        arrays = {
            f"{prefix}.hashes": self._hashes,
            f"{prefix}.columns": self._columns,
            f"{prefix}.idf": self.idf,
        }
        return settings, arrays

    @classmethod
    def from_arrays(cls, prefix: str, settings: dict, arrays) -> "FastTfidf":
        fast = cls.__new__(cls)
        fast._setup(
            settings,
            np.asarray(arrays[f"{prefix}.hashes"]),
            np.asarray(arrays[f"{prefix}.columns"]),
            np.asarray(arrays[f"{prefix}.idf"]),
        )
        return fast

    @staticmethod
    def _check_supported(vectorizer: TfidfVectorizer) -> None:
        """Only the settings this module reproduces exactly; anything else must stay on sklearn."""
        problems = []
        if vectorizer.analyzer not in ("char_wb", "word"):
            problems.append(f"analyzer={vectorizer.analyzer!r}")
        if vectorizer.analyzer == "word" and vectorizer.token_pattern != _SUPPORTED_TOKEN_PATTERN:
            problems.append(f"token_pattern={vectorizer.token_pattern!r}")
        if vectorizer.preprocessor is not feature_text:
            problems.append(f"preprocessor={vectorizer.preprocessor!r}")
        if vectorizer.tokenizer is not None or vectorizer.stop_words is not None:
            problems.append("a custom tokenizer or stop words")
        if vectorizer.binary or not vectorizer.use_idf or vectorizer.norm != "l2":
            problems.append("binary tf, no idf or a norm other than l2")
        if problems:
            raise ValueError(f"FastTfidf does not reproduce {', '.join(problems)}")

    def _ngrams(self, batch: TextBatch, n: int) -> tuple[np.ndarray, np.ndarray]:
        return batch.char_ngrams(n) if self.analyzer == "char_wb" else batch.word_ngrams(n)

    def transform(self, batch: TextBatch) -> sparse.csr_matrix:
        rows, cols = [], []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            hashes, docs = self._ngrams(batch, n)
            columns = self.index.lookup(hashes)
            known = columns >= 0
            rows.append(docs[known])
            cols.append(columns[known])
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        counts = sparse.csr_matrix(
            (np.ones(len(row), dtype=self.dtype), (row, col)), shape=(len(batch), self.n_features)
        )
        counts.sum_duplicates()
        data = counts.data
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1
        data *= self.idf[counts.indices]
        row_of_value = np.repeat(np.arange(len(batch)), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(row_of_value, weights=data.astype(np.float64) ** 2, minlength=len(batch)))
        data /= norms[row_of_value].astype(self.dtype)
        return counts


def supported(vectorizer: TfidfVectorizer) -> bool:
    try:
        FastTfidf._check_supported(vectorizer)
    except ValueError:
        return False
    return True
