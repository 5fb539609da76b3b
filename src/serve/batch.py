"""`triage batch`: score a large JSONL/CSV/Parquet file in chunks, resumably, keeping rejects.

Design (why it is built this way):
- Each chunk of `chunk_size` input rows is scored and written as `OUTPUT.parts/part-NNNNNN.parquet`
  (atomically: temporary name, then rename), with its rejects beside it. A re-run skips chunks
  whose part exists, so an interrupted run resumes where it stopped.
- `OUTPUT.parts/manifest.json` records the input (path, size, mtime), the columns, the chunk size
  and the model's fingerprint. A re-run with any of these changed refuses to resume onto the
  stale parts (`--restart` discards them) instead of silently mixing two runs.
- At the end the parts are assembled into OUTPUT (format from its suffix) one part at a time and
  the rejects into `OUTPUT-stem.rejects.jsonl`; then the parts folder is removed.
Memory therefore stays at one chunk plus the model, whatever the number of rows.
"""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from triage.models.labels import CAUSES, SCORE_COLUMNS
from triage.serve.batch_io import (
    BatchInputError,
    Chunk,
    Record,
    as_cell,
    check_text,
    file_format,
    input_columns,
    parse_times,
    progress_total,
    read_chunks,
)

REPLY_COLUMNS = ("action", "reply", "report", "reason", "subcase", "priority", "priority_score", "respond_by")
"""Written by the in-process engine only: replies and the queue depend on company settings.
`respond_by` is filled when a time column is given (the time a comment was posted)."""
TIME_COLUMN = "time"
MANIFEST = "manifest.json"
SCORE_TYPES = {
    "lang": pa.string(),
    "cause": pa.string(),
    "troll": pa.bool_(),
    "troll_score": pa.float64(),
    **{f"score_{c}": pa.float64() for c in CAUSES},
}
REPLY_TYPES = {
    "action": pa.string(),
    "reply": pa.string(),
    "report": pa.bool_(),
    "reason": pa.string(),
    "subcase": pa.string(),
    "priority": pa.string(),
    "priority_score": pa.float64(),
    "respond_by": pa.string(),
}


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the text, and optionally the id, the time and the customer's name."""

    text: str = "text"
    id: str | None = None
    time: str | None = None
    name: str | None = None

    def reserved(self) -> list[str]:
        """Names an input column must not have: every column either engine writes (the time column
        itself may be called `time`). One list for both engines, so they accept the same files."""
        time = [TIME_COLUMN] if self.time and self.time != TIME_COLUMN else []
        return [*SCORE_COLUMNS, *REPLY_COLUMNS, *time]

    def output_conflicts(self, input_columns: list[str]) -> list[str]:
        """Input columns that an output column would overwrite, in input order."""
        reserved = set(self.reserved())
        return [c for c in input_columns if c in reserved]


FIELD_CONFLICT = "field(s) {} would be overwritten by the output; rename them"
"""A JSONL row's reject reason; `{}` is the comma-separated field names (Spark fills it in SQL)."""


def column_conflict_error(source: Path | str, conflicts: list[str]) -> BatchInputError:
    """CSV and Parquet: every row has the conflicting columns, so the run is refused up front."""
    return BatchInputError(
        f"{source}: input column(s) {', '.join(conflicts)} would be overwritten by the output; "
        "rename them first"
    )


def no_rows_error(source: Path | str) -> BatchInputError:
    return BatchInputError(f"{source}: no rows to score (the file is empty or holds only a header)")


@dataclass
class BatchResult:
    scored: int
    rejected: int
    chunks: int
    skipped_chunks: int
    output: Path
    rejects: Path | None


def output_format(path: Path) -> str:
    return file_format(path)


def rejects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.jsonl")


def parts_dir(output: Path) -> Path:
    return output.with_name(f"{output.name}.parts")


def model_fingerprint(source: str | Path | None) -> str:
    """What identifies the model's answers: the artifact manifest's hash, or the registry version."""
    from triage.paths import MODEL_DIR
    from triage.serve.predictor import MLFLOW_SCHEMES, MODEL_URI_ENV, _registry_version

    source = source if source is not None else os.environ.get(MODEL_URI_ENV) or MODEL_DIR
    if isinstance(source, str) and source.startswith(MLFLOW_SCHEMES):
        version = _registry_version(source)
        return f"{source} (version {version})" if version else source
    manifest = Path(source) / "manifest.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16] if manifest.is_file() else "missing"
    return f"{Path(source).resolve()}#{digest}"


def _run_manifest(
    source: Path, fmt: str, columns: Columns, chunk_size: int, model: str, settings: Any
) -> dict[str, Any]:
    stat = source.stat()
    return {
        "input": {"path": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "format": fmt,
        "columns": asdict(columns),
        "chunk_size": chunk_size,
        "model": model,
        "settings": settings,
    }


def prepare_parts(folder: Path, manifest: dict[str, Any], restart: bool) -> None:
    """Create the parts folder, or check that the one left by an earlier run belongs to this run."""
    path = folder / MANIFEST
    if folder.exists() and restart:
        shutil.rmtree(folder)
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != manifest:
            changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
            raise BatchInputError(
                f"{folder} holds a partial run with a different {', '.join(changed)}; "
                "rerun with --restart to discard it and start over"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*"):  # a folder without manifest: leftovers, never ours to resume
        stale.unlink()
    _write_atomic(path, json.dumps(manifest, indent=2).encode())


class BatchWriteError(RuntimeError):
    """Writing a part or the output failed (a full disk, say); finished parts are kept."""


def _write_atomic(path: Path, data: Any, write: Callable[[Path, Any], Any] | None = None) -> None:
    """Write to `path.tmp`, then rename: `path` is complete or absent, and no `.tmp` is left."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        (write or (lambda target, content: target.write_bytes(content)))(tmp, data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BatchWriteError(
            f"cannot write {path}: {exc.strerror or exc}; finished chunks are kept, "
            "so the same command resumes once this is fixed"
        ) from exc


def split_records(
    records: list[Record], fmt: str, columns: Columns
) -> tuple[list[dict[str, Any]], list[str | None], list[dict[str, Any]]]:
    """Valid rows (with their normalised time) and rejects, each reject with row/line and reason."""
    valid: list[Record] = []
    rejects: list[dict[str, Any]] = []
    for record in records:
        reason = record.error or check_text(record.values or {}, columns.text)
        if not reason and fmt == "jsonl":  # JSONL rows vary: each is checked (tables up front)
            conflicts = columns.output_conflicts(list(record.values or {}))
            if conflicts:
                reason = FIELD_CONFLICT.format(", ".join(conflicts))
        if reason:
            rejects.append(_reject(record, reason))
        else:
            valid.append(record)
    times: list[str | None] = []
    if columns.time:
        parsed, errors = parse_times([(r.values or {}).get(columns.time) for r in valid])
        kept = []
        for record, time, error in zip(valid, parsed, errors, strict=True):
            if error:
                rejects.append(_reject(record, f"{columns.time}: {error}"))
            else:
                kept.append(record)
                times.append(time)
        valid = kept
    good = [r.values or {} for r in valid]
    if fmt == "jsonl":
        good = [{k: (v if k == columns.text else as_cell(v)) for k, v in row.items()} for row in good]
    rejects.sort(key=lambda r: r["row"])
    return good, times, rejects


def _reject(record: Record, reason: str) -> dict[str, Any]:
    out: dict[str, Any] = {"row": record.row}
    if record.line is not None:
        out["line"] = record.line
    out["reason"] = reason
    out["record"] = record.raw
    return out


def score_rows(
    predictor, rows: list[dict[str, Any]], times: list[str | None], columns: Columns, settings: Any
) -> pa.Table:
    """Input columns, then `time`, the scores and the reply columns, as one Arrow table."""
    texts = [row[columns.text] for row in rows]
    ids = [_str_or_none(row.get(columns.id)) for row in rows] if columns.id else None
    names = [_str_or_none(row.get(columns.name)) for row in rows] if columns.name else None
    created_at = times if columns.time else None
    predictions = []
    if rows:
        predictions = predictor.predict(texts, ids=ids, names=names, created_at=created_at, settings=settings)
    input_columns = list(dict.fromkeys(k for row in rows for k in row))
    data: dict[str, Any] = {c: [row.get(c) for row in rows] for c in input_columns}
    if columns.time:
        data[TIME_COLUMN] = times
    data["lang"] = [p.lang for p in predictions]
    data["cause"] = [p.cause for p in predictions]
    data["troll"] = [p.troll for p in predictions]
    data["troll_score"] = [p.troll_score for p in predictions]
    for cause in CAUSES:
        data[f"score_{cause}"] = [p.cause_scores[cause] for p in predictions]
    for column in REPLY_COLUMNS:
        data[column] = [getattr(p, column) for p in predictions]
    arrays = {}
    for name, values in data.items():
        kind = SCORE_TYPES.get(name) or REPLY_TYPES.get(name)
        if name == TIME_COLUMN and columns.time:
            kind = pa.string()
        arrays[name] = pa.array(values, type=kind)
    return pa.table(arrays)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def run_batch(
    source: Path,
    output: Path,
    columns: Columns,
    *,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    input_format: str | None = None,
    chunk_size: int = 10_000,
    restart: bool = False,
    progress: bool = True,
    on_reject: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Score `source` into `output` with the in-process predictor (see the module docstring)."""
    from tqdm import tqdm
    from triage.serve.predictor import Predictor

    if not source.is_file():
        raise FileNotFoundError(f"input file not found: {source}")
    if chunk_size < 1:
        raise BatchInputError("--chunk-size must be at least 1")
    fmt = file_format(source, input_format)
    out_fmt = output_format(output)
    header = input_columns(source, fmt)
    conflicts = columns.output_conflicts(header) if header else []
    if conflicts:
        raise column_conflict_error(source, conflicts)
    predictor = Predictor.load(model)
    resolved = predictor.replies.settings.merged(settings)
    folder = parts_dir(output)
    manifest = _run_manifest(source, fmt, columns, chunk_size, model_fingerprint(model), settings)
    prepare_parts(folder, manifest, restart)
    total, unit = progress_total(source, fmt)
    scored = rejected = chunks = skipped = 0
    bar = tqdm(total=total, unit=unit, unit_scale=True, disable=not progress, desc="scoring")
    try:
        for chunk in read_chunks(source, fmt, chunk_size, columns.text):
            chunks += 1
            part = folder / f"part-{chunk.index:06d}.parquet"
            if part.exists():
                skipped += 1
                scored += pq.ParquetFile(part).metadata.num_rows
                rejected += count_lines(folder / f"rejects-{chunk.index:06d}.jsonl")
            else:
                done, bad = _score_chunk(predictor, chunk, fmt, columns, resolved, part)
                scored, rejected = scored + done, rejected + len(bad)
                for reject in bad if on_reject else ():
                    on_reject(reject)
            bar.update(chunk.position - bar.n)
            bar.set_postfix(rows=scored, rejected=rejected, refresh=False)
    finally:
        bar.close()
    if chunks == 0:
        shutil.rmtree(folder)
        raise no_rows_error(source)
    reject_file = assemble(folder, output, out_fmt)
    shutil.rmtree(folder)
    return BatchResult(scored, rejected, chunks, skipped, output, reject_file)


def _score_chunk(
    predictor, chunk: Chunk, fmt: str, columns: Columns, settings: Any, part: Path
) -> tuple[int, list[dict[str, Any]]]:
    good, times, bad = split_records(chunk.load(), fmt, columns)
    table = score_rows(predictor, good, times, columns, settings)
    rejects_file = part.with_name(part.name.replace("part-", "rejects-").replace(".parquet", ".jsonl"))
    lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in bad)
    _write_atomic(rejects_file, lines.encode("utf-8"))
    # The part appears last: its existence means the chunk is complete.
    _write_atomic(part, table, lambda tmp, table: pq.write_table(table, tmp))
    return table.num_rows, bad


def count_lines(path: Path) -> int:
    """Lines in a file (0 when it does not exist): the rejects a finished part recorded."""
    if not path.is_file():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _unified_schema(parts: list[Path]) -> pa.Schema:
    schemas = [pq.read_schema(p) for p in parts]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    produced = [*([TIME_COLUMN] if TIME_COLUMN in schema.names else []), *SCORE_COLUMNS, *REPLY_COLUMNS]
    passthrough = [n for n in schema.names if n not in produced]
    order = passthrough + [n for n in produced if n in schema.names]
    # All-null columns (a field absent from every row of a chunk) become strings.
    return pa.schema(
        [
            pa.field(n, pa.string()) if pa.types.is_null(schema.field(n).type) else schema.field(n)
            for n in order
        ]
    )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    arrays = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def assemble(folder: Path, output: Path, fmt: str) -> Path | None:
    """Concatenate the parts into `output` and the chunk rejects into the rejects file."""
    parts = sorted(folder.glob("part-*.parquet"))
    schema = _unified_schema(parts)

    def write_output(tmp: Path, _: Any) -> None:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    writer.write_table(_conform(pq.read_table(part), schema))
        elif fmt == "csv":
            with pacsv.CSVWriter(tmp, schema) as writer:
                for part in parts:
                    writer.write_table(_conform(pq.read_table(part), schema))
        else:
            with tmp.open("w", encoding="utf-8") as handle:
                for part in parts:
                    for row in _conform(pq.read_table(part), schema).to_pylist():
                        handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    _write_atomic(output, None, write_output)
    reject_files = sorted(folder.glob("rejects-*.jsonl"))
    target = rejects_path(output)
    if not any(f.stat().st_size for f in reject_files):
        target.unlink(missing_ok=True)
        return None

    def write_rejects(tmp: Path, _: Any) -> None:
        with tmp.open("wb") as sink:
            for path in reject_files:
                with path.open("rb") as source:
                    shutil.copyfileobj(source, sink)

    _write_atomic(target, None, write_rejects)
    return target
