"""An LRU cache of recent scores, so repeated comments (spam floods, retweets) skip the model.

What is cached: the model's scores of one text (language and its score, the cause
probabilities, the troll score), never a whole prediction. The action, reply, sub-case,
priority and `respond_by` depend on the request (its id, name, created_at and reply settings);
they are recomputed for every request from the scores, so a cached answer never carries
another request's reply, and the settings, names and times need not be part of the key.

The key is the model's artifact digest and the text exactly as sent, hashed (blake2b, 128
bits) so an entry costs the same few hundred bytes whatever the text's length. Why not the
normalised text (`clean_text`, `feature_text`): language identification and the encoder read
the raw text (script counts, lingua, the tokenizer), so two texts with one normalised form can
score differently. An NFD "ў" (у + combining breve) is not the letter that marks a Belarusian
comment as `other`; serving the scores of one form for the other would be a wrong answer.
"""

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache
from triage.models.artifact import Scores
from triage.models.labels import CAUSES

CACHE_SIZE_ENV = "TRIAGE_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 10_000
"""Entries; at 433 bytes each (measured with tracemalloc), 10,000 entries hold about 4.3 MB."""


def cache_size_from_env() -> int:
    """`$TRIAGE_CACHE_SIZE` (entries; 0 disables the cache), or the default when unset."""
    value = os.environ.get(CACHE_SIZE_ENV, "").strip()
    if not value:
        return DEFAULT_CACHE_SIZE
    if not value.isdigit():
        raise ValueError(f"{CACHE_SIZE_ENV} must be a whole number of entries (0 disables), not {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class CachedRow:
    """One text's scores, copied out of its batch (a view would keep the whole batch alive)."""

    lang: str
    lang_score: np.floating
    cause_proba: np.ndarray
    troll_proba: np.floating


def cache_key(model_token: str, text: str) -> bytes:
    """128-bit key of a text for one model (lone surrogates are hashed as they are)."""
    digest = hashlib.blake2b(model_token.encode(), digest_size=16)
    digest.update(b"\x00")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


class ScoreCache:
    """A bounded, thread-safe LRU map from `cache_key` to `CachedRow`; `max_entries=0` disables it.

    Shared by the model generations of one service; a model swap clears it (the digest in the
    key already keeps two models' entries apart: clearing frees the memory at once).
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE):
        if max_entries < 0:
            raise ValueError("max_entries must be 0 (disabled) or more")
        self.max_entries = max_entries
        self._rows: LRUCache[bytes, CachedRow] = LRUCache(maxsize=max(max_entries, 1))
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def __len__(self) -> int:
        return len(self._rows) if self.enabled else 0

    def get_many(self, keys: Sequence[bytes]) -> list[CachedRow | None]:
        """The rows found (each a hit, now most recently used), None where absent."""
        with self._lock:
            return [self._rows.get(key) for key in keys]

    def put_many(self, keys: Sequence[bytes], rows: Sequence[CachedRow]) -> None:
        if not self.enabled:
            return
        with self._lock:
            for key, row in zip(keys, rows, strict=True):
                self._rows[key] = row

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


def _rows_of(scores: Scores) -> list[CachedRow]:
    return [
        CachedRow(
            scores.langs[i],
            scores.lang_scores[i],
            scores.cause_proba[i].copy(),
            scores.troll_proba[i],
        )
        for i in range(len(scores.langs))
    ]


class CacheLookup:
    """The cached scores of one batch of texts, and the distinct texts still to be scored.

    `missing` holds each uncached text once (a text repeated in the batch is scored once);
    `fill` takes their scores, in that order, and stores them; `scores` assembles the batch.
    With the cache disabled, `missing` is the batch itself and `scores` is what `fill` got.
    """

    def __init__(self, cache: ScoreCache, model_token: str, texts: Sequence[str]):
        texts = list(texts)
        self._cache, self._size = cache, len(texts)
        self._fresh: Scores | None = None
        if not cache.enabled:
            self.hits, self.missing = 0, texts
            self._keys: list[bytes] = []
            self._rows: list[CachedRow | None] = [None] * len(texts)
            self._missing_keys: list[bytes] = []
            return
        self._keys = [cache_key(model_token, text) for text in texts]
        self._rows = cache.get_many(self._keys)
        self.hits = sum(row is not None for row in self._rows)
        first: dict[bytes, str] = {}
        for key, text, row in zip(self._keys, texts, self._rows, strict=True):
            if row is None and key not in first:
                first[key] = text
        self._missing_keys, self.missing = list(first), list(first.values())

    @property
    def misses(self) -> int:
        return self._size - self.hits

    def fill(self, scores: Scores) -> None:
        """Store the scores of `missing` (in its order) and complete the batch."""
        if len(scores.langs) != len(self.missing):
            raise ValueError(f"{len(scores.langs)} scores for {len(self.missing)} texts")
        if not self._cache.enabled or (self.hits == 0 and len(self.missing) == self._size):
            self._fresh = scores  # nothing cached and no repeats: the batch is exactly these scores
        if not self._cache.enabled:
            return
        rows = _rows_of(scores)
        self._cache.put_many(self._missing_keys, rows)
        found = dict(zip(self._missing_keys, rows, strict=True))
        self._rows = [
            row if row is not None else found[key] for key, row in zip(self._keys, self._rows, strict=True)
        ]

    def scores(self, troll_threshold: float) -> Scores:
        """The batch's scores in input order (after `fill`, unless every text was a hit)."""
        if self._fresh is not None:
            return self._fresh
        if self._size == 0:
            return Scores([], np.zeros(0), np.zeros((0, len(CAUSES))), np.zeros(0), troll_threshold)
        rows = [row for row in self._rows if row is not None]
        if len(rows) != self._size:
            raise RuntimeError("scores() before fill(): some texts are not scored yet")
        return Scores(
            [row.lang for row in rows],
            np.array([row.lang_score for row in rows]),
            np.stack([row.cause_proba for row in rows]),
            np.array([row.troll_proba for row in rows]),
            troll_threshold,
        )
