"""Counts of scored comments per time bucket × cause × language, and troll volume, from any scored file.

Reads only the four columns it needs, batch by batch (pyarrow datasets), so a file of millions
of rows, or a Spark output folder of part files, is aggregated in flat memory.
"""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from triage.models.labels import CAUSES

BUCKETS = {"day": "D", "hour": "h"}
ALL_LANGS = "all"
TROLL = "troll"
NEEDED = ("lang", "cause", "troll")
_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json", ".ndjson": "json"}


class MonitorInputError(ValueError):
    """The scored file cannot be read or lacks the columns monitoring needs."""


def _dataset(path: Path) -> ds.Dataset:
    if not path.exists():
        raise FileNotFoundError(f"scored file not found: {path}")
    if not (path.is_file() or path.is_dir()):
        raise MonitorInputError(f"{path}: not a file or folder")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in _FORMATS)
    if not files:
        raise MonitorInputError(f"{path}: no .parquet, .csv or .jsonl files in the folder")
    kinds = {_FORMATS.get(p.suffix.lower()) for p in files}
    if None in kinds or len(kinds) != 1:
        raise MonitorInputError(f"{path}: expected .parquet, .csv or .jsonl file(s)")
    return ds.dataset([str(p) for p in files], format=kinds.pop())


def load_counts(path: Path, bucket: str = "day", time_column: str = "time") -> tuple[pd.DataFrame, int]:
    """Counts per bucket (rows, UTC, gaps filled with 0) × series (columns: kind, cause, lang).

    A cause series counts comments that are not trolls (troll comments are not complaints);
    the troll series counts trolls. Each has one column per language and one for all languages.
    """
    if bucket not in BUCKETS:
        raise MonitorInputError(f"unknown bucket {bucket!r}: use day or hour")
    if all(size == 0 for size in _file_sizes(path)):
        raise MonitorInputError(f"{path}: empty; nothing to monitor")
    try:
        dataset = _dataset(path)
        names = dataset.schema.names
    except pa.ArrowInvalid as exc:
        raise MonitorInputError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from exc
    missing = [c for c in (time_column, *NEEDED) if c not in names]
    if missing:
        raise MonitorInputError(
            f"{path}: missing column(s) {missing}; score it with `triage batch --time-column`"
        )
    parts = []
    total = 0
    try:
        batches = list(dataset.to_batches(columns=[time_column, *NEEDED]))
    except pa.ArrowInvalid as exc:
        raise MonitorInputError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from exc
    for batch in batches:
        frame = batch.to_pandas()
        total += len(frame)
        times = pd.to_datetime(frame[time_column], utc=True, errors="coerce", format="ISO8601")
        if times.isna().any():
            bad = frame[time_column][times.isna()].iloc[0]
            raise MonitorInputError(f"{path}: unreadable time {bad!r} in column {time_column!r}")
        troll = frame["troll"].astype(str).str.lower().isin(["true", "1"])
        frame = pd.DataFrame(
            {
                "bucket": times.dt.floor(BUCKETS[bucket]),
                "lang": frame["lang"].astype(str),
                "kind": frame["cause"].astype(str).where(~troll, TROLL),
            }
        )
        parts.append(frame.groupby(["bucket", "kind", "lang"]).size())
    if not total:
        raise MonitorInputError(f"{path}: no rows (only a header?); nothing to monitor")
    counts = pd.concat(parts).groupby(level=[0, 1, 2]).sum().unstack(["kind", "lang"], fill_value=0)
    complete = _complete(counts, bucket)
    complete.attrs["unknown_labels"] = _unknown_labels(counts)
    return complete, total


def unknown_labels(counts: pd.DataFrame) -> dict[str, int]:
    """Comments whose cause this version does not know (another model's labels?), by label."""
    return dict(counts.attrs.get("unknown_labels", {}))


def _unknown_labels(counts: pd.DataFrame) -> dict[str, int]:
    known = {*CAUSES, TROLL}
    totals = counts.sum()
    found: dict[str, int] = {}
    for (kind, _), value in totals.items():
        if kind not in known and value:
            found[kind] = found.get(kind, 0) + int(value)
    return dict(sorted(found.items()))


def _file_sizes(path: Path) -> list[int]:
    if path.is_file():
        return [path.stat().st_size]
    return [p.stat().st_size for p in path.rglob("*") if p.suffix in _FORMATS] if path.is_dir() else [1]


def _complete(counts: pd.DataFrame, bucket: str) -> pd.DataFrame:
    """Every bucket from first to last, every cause and troll, per language and all languages."""
    index = pd.date_range(counts.index.min(), counts.index.max(), freq=BUCKETS[bucket], name="bucket")
    counts = counts.reindex(index, fill_value=0)
    langs = sorted({lang for _, lang in counts.columns})
    columns = []
    data = {}
    for kind in (*CAUSES, TROLL):
        per_lang = [counts[(kind, lang)] if (kind, lang) in counts.columns else 0 for lang in langs]
        data[(kind, ALL_LANGS)] = sum(per_lang) if per_lang else 0
        columns.append((kind, ALL_LANGS))
        for lang, values in zip(langs, per_lang, strict=True):
            data[(kind, lang)] = values
            columns.append((kind, lang))
    frame = pd.DataFrame(data, index=index)[columns].astype("int64")
    frame.columns = pd.MultiIndex.from_tuples(columns, names=["kind", "lang"])
    return frame
