"""Chunked readers for JSONL, CSV and Parquet, and the record checks shared by both batch engines.

Readers yield chunks lazily and parse a chunk only when asked, so a resumed run skips
finished chunks without parsing them and memory stays at one chunk whatever the file size.
Every record keeps its row number (1-based, header excluded) and, for text formats, the line
it starts on, so a rejected row can be found in the input.
"""

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from triage.models.labels import MAX_TEXT_CHARS

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class BatchInputError(ValueError):
    """The input cannot be read at all (unknown format, missing column, unreadable file)."""


def file_format(path: Path, given: str | None = None) -> str:
    """`jsonl`, `csv` or `parquet`, from `given` or the file name's suffix."""
    if given:
        if given not in set(FORMATS.values()):
            raise BatchInputError(f"unknown format {given!r}: use jsonl, csv or parquet")
        return given
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BatchInputError(f"{path}: cannot tell the format from the suffix; use .jsonl, .csv or .parquet")
    return fmt


@dataclass
class Record:
    row: int
    line: int | None
    values: dict[str, Any] | None = None
    error: str | None = None
    raw: Any = None


@dataclass
class Chunk:
    """One chunk of input; `load()` parses it. `position` is progress in the reader's unit."""

    index: int
    size: int
    position: int
    load: Callable[[], list[Record]] = field(repr=False)


def progress_total(path: Path, fmt: str) -> tuple[int, str]:
    """The progress bar's total and unit: bytes for text formats, rows for Parquet."""
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows, "rows"
    return path.stat().st_size, "B"


def read_chunks(path: Path, fmt: str, chunk_size: int, text_column: str) -> Iterator[Chunk]:
    readers = {"jsonl": _jsonl_chunks, "csv": _csv_chunks, "parquet": _parquet_chunks}
    return readers[fmt](path, chunk_size, text_column)


BOM = b"\xef\xbb\xbf"
CSV_FIELD_LIMIT = 16 * 1024 * 1024
"""Python's csv module stops at 128 KiB per field; a longer field is read, then rejected as a row."""


def strip_bom(first_line: bytes) -> bytes:
    """A UTF-8 byte-order mark that some editors put at the start of a file is not data."""
    return first_line.removeprefix(BOM)


def input_columns(path: Path, fmt: str) -> list[str] | None:
    """The columns every row has (CSV header, Parquet schema); None for JSONL, whose rows vary."""
    if fmt == "csv":
        with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            header = next(csv.reader(handle), None)
        return [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(header or [])]
    if fmt == "parquet":
        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:
            raise BatchInputError(f"{path}: not a readable Parquet file: {exc}") from exc
    return None


def _jsonl_chunks(path: Path, chunk_size: int, text_column: str) -> Iterator[Chunk]:
    with path.open("rb") as handle:
        lines: list[tuple[int, bytes]] = []
        index, row = 0, 0
        for number, data in enumerate(handle, start=1):
            if number == 1:
                data = strip_bom(data)
            if not data.strip():
                continue
            row += 1
            lines.append((number, data))
            if len(lines) == chunk_size:
                yield Chunk(index, len(lines), handle.tell(), _jsonl_loader(lines, row - len(lines)))
                lines, index = [], index + 1
        if lines:
            yield Chunk(index, len(lines), handle.tell(), _jsonl_loader(lines, row - len(lines)))


def _jsonl_loader(lines: list[tuple[int, bytes]], first_row: int) -> Callable[[], list[Record]]:
    def load() -> list[Record]:
        records = []
        for offset, (number, data) in enumerate(lines, start=1):
            record = Record(row=first_row + offset, line=number)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                record.error, record.raw = "not valid UTF-8", data.decode("utf-8", "replace").rstrip("\n")
                records.append(record)
                continue
            record.raw = text.rstrip("\r\n")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                record.error = f"invalid JSON: {exc.msg} (column {exc.colno})"
            except RecursionError:
                record.error = "invalid JSON: nested too deeply"
            except ValueError as exc:  # an integer of more than 4,300 digits
                record.error = f"invalid JSON: {str(exc).split(':')[0]}"
            else:
                if isinstance(value, dict):
                    record.values = value
                else:
                    record.error = f"expected a JSON object, got {type(value).__name__}"
            records.append(record)
        return records

    return load


def as_cell(value: Any) -> Any:
    """JSON values as table cells: strings and nulls stay, anything else becomes JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _csv_chunks(path: Path, chunk_size: int, text_column: str) -> Iterator[Chunk]:
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        header = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(header)]
        if text_column not in header:
            raise BatchInputError(f"{path}: no column {text_column!r} in the CSV header {header}")
        rows: list[tuple[int, list[str] | str]] = []
        index, row, last_line = 0, 0, reader.line_num
        while True:
            try:
                fields: list[str] | str = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a field over CSV_FIELD_LIMIT: this row only
                fields = f"unreadable CSV row: {exc}"
            start, last_line = last_line + 1, reader.line_num
            if not fields:
                continue
            row += 1
            rows.append((start, fields))
            if len(rows) == chunk_size:
                position = handle.buffer.tell()
                yield Chunk(index, len(rows), position, _csv_loader(header, rows, row - len(rows)))
                rows, index = [], index + 1
        if rows:
            yield Chunk(index, len(rows), handle.buffer.tell(), _csv_loader(header, rows, row - len(rows)))


def _csv_loader(
    header: list[str], rows: list[tuple[int, list[str] | str]], first_row: int
) -> Callable[[], list[Record]]:
    def load() -> list[Record]:
        records = []
        for offset, (line, fields) in enumerate(rows, start=1):
            record = Record(row=first_row + offset, line=line)
            if isinstance(fields, str):
                record.error = fields
                records.append(record)
                continue
            clean = [_unescape(f) for f in fields]
            if clean != fields:
                record.error, record.raw = "not valid UTF-8", clean
            elif len(fields) != len(header):
                record.error = f"expected {len(header)} fields, got {len(fields)}"
                record.raw = fields
            else:
                record.values = dict(zip(header, fields, strict=True))
                record.raw = record.values
            records.append(record)
        return records

    return load


def _unescape(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _parquet_chunks(path: Path, chunk_size: int, text_column: str) -> Iterator[Chunk]:
    try:
        source = pq.ParquetFile(path)
    except Exception as exc:
        raise BatchInputError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = source.schema_arrow.names
    if text_column not in names:
        raise BatchInputError(f"{path}: no column {text_column!r} in the Parquet schema {names}")
    row = 0
    for index, batch in enumerate(source.iter_batches(batch_size=chunk_size)):
        row += batch.num_rows
        yield Chunk(index, batch.num_rows, row, _parquet_loader(batch, row - batch.num_rows))


def _parquet_loader(batch, first_row: int) -> Callable[[], list[Record]]:
    def load() -> list[Record]:
        return [
            Record(row=first_row + i, line=None, values=values, raw=values)
            for i, values in enumerate(batch.to_pylist(), start=1)
        ]

    return load


def check_text(values: dict[str, Any], column: str) -> str | None:
    """Why this record's text cannot be scored, or None."""
    text = values.get(column)
    if text is None:
        return f"{column}: missing"
    if not isinstance(text, str):
        return f"{column}: expected a string, got {type(text).__name__}"
    if not text.strip():
        return f"{column}: empty or whitespace only"
    if len(text) > MAX_TEXT_CHARS:
        return f"{column}: longer than {MAX_TEXT_CHARS} characters ({len(text)})"
    return None


def parse_times(values: list[Any]) -> tuple[list[str | None], list[str | None]]:
    """ISO 8601 UTC strings (`2026-11-24T03:30:00Z`) and, per value, why it could not be parsed.

    Accepts ISO 8601 text (naive times are taken as UTC) and datetime values (Parquet timestamps).
    """
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) or v == "" for v in values]
    series = pd.Series([None if m else v for m, v in zip(missing, values, strict=True)], dtype=object)
    parsed = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    times: list[str | None] = []
    errors: list[str | None] = []
    for value, stamp, is_missing in zip(values, parsed, missing, strict=True):
        if is_missing:
            times.append(None)
            errors.append("missing")
        elif pd.isna(stamp):
            times.append(None)
            errors.append(f"not an ISO 8601 timestamp: {str(value)[:60]!r}")
        else:
            times.append(stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
            errors.append(None)
    return times, errors
