"""The `prepare` stage: validate, normalise, de-duplicate and split the corpus.

The split is stratified by (lang, cause, troll) with a fixed seed. Near-duplicate comments
are kept together in one split (so a test comment never has a near-copy in train), and
generated variants live in train together with the example they were made from.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from triage.models.labels import CAUSES, LANGS
from triage.train.corpus import CorpusError, Example, Reject, corpus_files, load_corpus
from triage.train.neardup import NearDuplicate, near_duplicates

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitSettings:
    seed: int = 13
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    near_duplicate_threshold: float = 0.6

    def __post_init__(self):
        if not 0 <= self.valid_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError("valid_fraction and test_fraction must be in [0, 1)")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError("valid_fraction + test_fraction must leave rows for train")


def _groups(examples: list[Example], pairs: Iterable[NearDuplicate]) -> list[list[int]]:
    """Connected components over near-duplicate pairs and augmented-variant → parent links."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    for pair in pairs:
        union(pair.first, pair.second)
    index_by_id = {e.id: i for i, e in enumerate(examples)}
    for i, e in enumerate(examples):
        if e.is_augmented and e.parent in index_by_id:
            union(i, index_by_id[e.parent])
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(examples)):
        members[find(i)].append(i)
    return sorted(members.values())


def split_examples(
    examples: list[Example], settings: SplitSettings, pairs: Iterable[NearDuplicate] = ()
) -> dict[str, list[Example]]:
    """Assign every example to exactly one split."""
    rng = np.random.default_rng(settings.seed)
    strata: dict[tuple, list[list[int]]] = defaultdict(list)
    forced_train: list[int] = []
    for group in _groups(examples, pairs):
        if any(examples[i].is_generated for i in group):
            forced_train.extend(group)
            continue
        anchor = examples[min(group, key=lambda i: examples[i].id)]
        strata[(anchor.lang, anchor.cause, anchor.troll, anchor.extra.get("wave", 1))].append(group)
    assigned: dict[str, list[int]] = {name: [] for name in SPLITS}
    assigned["train"].extend(forced_train)
    for key in sorted(strata, key=str):
        groups = strata[key]
        order = rng.permutation(len(groups))
        n_test = round(len(groups) * settings.test_fraction)
        n_valid = round(len(groups) * settings.valid_fraction)
        for rank, g in enumerate(order):
            split = "test" if rank < n_test else "valid" if rank < n_test + n_valid else "train"
            assigned[split].extend(groups[g])
    return {name: [examples[i] for i in sorted(idx)] for name, idx in assigned.items()}


def count_table(splits: dict[str, list[Example]]) -> pd.DataFrame:
    """Rows per split × lang × cause × troll, every combination listed (zeros included)."""
    index = pd.MultiIndex.from_product(
        [SPLITS, LANGS, CAUSES, [False, True]], names=["split", "lang", "cause", "troll"]
    )
    rows = [(s, e.lang, e.cause, e.troll) for s, items in splits.items() for e in items]
    frame = pd.DataFrame(rows, columns=list(index.names))
    counts = frame.value_counts().reindex(index, fill_value=0).rename("count")
    return counts.reset_index()


def _write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class PrepareResult:
    splits: dict[str, list[Example]]
    rejects: list[Reject]
    near_duplicates: list[NearDuplicate]


def prepare(
    raw_dir: Path,
    out_dir: Path,
    counts_path: Path,
    settings: SplitSettings,
    allow_rejects: bool = False,
) -> PrepareResult:
    files = corpus_files(raw_dir)
    if not files:
        raise CorpusError([Reject(str(raw_dir), 0, ["no *.jsonl files found"], "")])
    loaded = load_corpus(files)
    if loaded.rejects and not allow_rejects:
        raise CorpusError(loaded.rejects)
    examples = loaded.examples
    pairs = near_duplicates([e.text for e in examples], settings.near_duplicate_threshold)
    for pair in pairs:
        log.warning(
            "near-duplicate (J=%.2f): %s ~ %s — kept in the same split",
            pair.similarity,
            examples[pair.first].where,
            examples[pair.second].where,
        )
    splits = split_examples(examples, settings, pairs)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, items in splits.items():
        _write_jsonl(out_dir / f"{name}.jsonl", (e.to_record() for e in items))
    _write_jsonl(out_dir / "rejects.jsonl", (r.to_record() for r in loaded.rejects))
    _write_jsonl(
        out_dir / "near_duplicates.jsonl",
        (
            {
                "similarity": round(p.similarity, 4),
                "first": examples[p.first].where,
                "second": examples[p.second].where,
            }
            for p in pairs
        ),
    )
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    count_table(splits).to_csv(counts_path, index=False)
    return PrepareResult(splits, loaded.rejects, pairs)
