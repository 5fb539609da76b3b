"""`triage batch --engine spark`: the same scoring on Apache Spark, for data beyond one machine.

The registered MLflow model is applied with `mlflow.pyfunc.spark_udf` (a pandas UDF over Arrow
batches), so executors run exactly the pyfunc that `mlflow models serve` runs. Rows are checked
with the same rules as the in-process engine (the same reserved output names, messages and
reasons, from `triage.serve.batch`); malformed ones go to a rejects folder with their row (and
line, for JSONL) and the reason. Spark writes folders of part files (its own layout, readable by
pandas, pyarrow and Spark); resuming is Spark's own task retry, not the in-process engine's chunk
manifest. A second pandas UDF turns the scores into the reply columns (action, reply,
sub-case, `priority`, `priority_score`, `respond_by`) with the in-process engine's own
functions (`suggestion_rows`, `ReplyBook.suggest_batch`); the reply book and the resolved
company settings are loaded once on the driver and shipped with the UDF. pyspark is imported
here only, so nothing else in triage needs it (or Java).
"""

import os
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.models.labels import CAUSES, MAX_TEXT_CHARS, SCORE_COLUMNS
from triage.models.transformer import THREADS_ENV
from triage.serve.batch import (
    FIELD_CONFLICT,
    REPLY_COLUMNS,
    REPLY_TYPES,
    TIME_COLUMN,
    Columns,
    column_conflict_error,
    count_lines,
    no_rows_error,
    rejects_path,
)
from triage.serve.batch_io import BatchInputError, file_format
from triage.serve.predictor import iso_utc, suggestion_rows
from triage.serve.replies import ReplyBook, ReplySettings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

DEFAULT_MODEL_URI = "models:/triage@champion"
CORRUPT = "_corrupt_record"
ROW, LINE, RAW, KEYS = "_triage_row", "_triage_line", "_triage_raw", "_triage_keys"
"""Internal columns: a row's number in its file (header and blank lines excluded, as the
in-process engine counts), its line (JSONL), the line itself and its top-level field names."""
_FILE, _START, _LINE_ID, _ROW_ID = "_triage_file", "_triage_start", "_triage_line_id", "_triage_row_id"
INTERNAL = (CORRUPT, ROW, LINE, RAW, KEYS)
PARTITION_BITS = 33
"""`monotonically_increasing_id()` is the partition index shifted by 33 bits plus the record's
position in the partition (documented by Spark)."""
RESULT_TYPE = ", ".join(
    [
        "lang string",
        "cause string",
        "troll boolean",
        "troll_score double",
        *(f"score_{c} double" for c in CAUSES),
    ]
)
_SPARK_TYPES = {"string": "string", "bool": "boolean", "double": "double"}
REPLY_TYPE = ", ".join(f"{c} {_SPARK_TYPES[str(REPLY_TYPES[c])]}" for c in REPLY_COLUMNS)
"""The reply columns as a Spark DDL struct, in the in-process engine's order and types."""
SPARK_WRITE_FORMATS = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}


@dataclass
class SparkResult:
    scored: int
    rejected: int
    output: Path
    rejects: Path | None


def spark_session(master: str = "local[*]", shuffle_partitions: int = 4):
    """A Spark session whose Python workers use this interpreter, times in UTC, no web UI."""
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise BatchInputError(
            "the Spark engine needs Java 17+: install it (apt-get install -y openjdk-17-jre-headless)"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # One encoder thread per task, since every core runs a task (TRIAGE_ONNX_THREADS overrides);
    # PySpark passes spark.executorEnv.* to its Python workers, in local mode too.
    threads = os.environ.get(THREADS_ENV, "1")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("triage-batch")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config(f"spark.executorEnv.{THREADS_ENV}", threads)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def check_model_uri(model_uri: str) -> str:
    """spark_udf needs an MLflow model: a registry/run URI or a folder holding an MLmodel file."""
    if "://" in model_uri or model_uri.startswith(("models:/", "runs:/")):
        return model_uri
    if (Path(model_uri) / "MLmodel").is_file():
        return str(Path(model_uri).resolve())
    raise BatchInputError(
        f"the Spark engine needs an MLflow model ({DEFAULT_MODEL_URI}, models:/triage/N, runs:/..., "
        f"or a folder with an MLmodel file); {model_uri} is not one"
    )


def number_rows(frame: "DataFrame", blank: "Column | None" = None) -> tuple["DataFrame", int]:
    """Adds ROW (and LINE when `blank` is given) to a frame read straight from files.

    Spark has no row numbers, and `zipWithIndex` would move every row through Python. A file
    split is read in order by one partition, so a row's number is its split's first number plus
    its offset in the partition's `monotonically_increasing_id`; the splits' first numbers come
    from one aggregation (a row per split, collected). `blank` (text formats) marks lines that
    count as lines but not as rows, and are dropped. Returns the frame and its number of rows.
    """
    from pyspark.sql import functions as F

    frame = frame.select(
        "*",
        F.col("_metadata.file_path").alias(_FILE),
        F.col("_metadata.file_block_start").alias(_START),
        F.monotonically_increasing_id().alias(_LINE_ID),
    )
    kept = F.lit(1) if blank is None else F.when(blank, 0).otherwise(1)
    splits = (
        frame.groupBy(_FILE, _START)
        .agg(F.min(_LINE_ID).alias("first_id"), F.count("*").alias("lines"), F.sum(kept).alias("rows"))
        .collect()
    )
    if blank is not None:
        frame = frame.filter(~blank)
    frame = frame.withColumn(_ROW_ID, F.monotonically_increasing_id())
    # After the filter a partition's ids count its kept rows only: a split's first row id is its
    # partition's base plus the kept rows of the splits read before it in that partition.
    first_row_id: dict[tuple[str, int], int] = {}
    kept_before: dict[int, int] = defaultdict(int)
    for split in sorted(splits, key=lambda s: s.first_id):
        partition = split.first_id >> PARTITION_BITS
        first_row_id[(split[_FILE], split[_START])] = (partition << PARTITION_BITS) + kept_before[partition]
        kept_before[partition] += split.rows
    offsets, line_in_file, row_in_file = [], defaultdict(lambda: 1), defaultdict(lambda: 1)
    for split in sorted(splits, key=lambda s: (s[_FILE], s[_START])):
        key = (split[_FILE], split[_START])
        offsets.append((*key, line_in_file[key[0]] - split.first_id, row_in_file[key[0]] - first_row_id[key]))
        line_in_file[key[0]] += split.lines
        row_in_file[key[0]] += split.rows
    table = frame.sparkSession.createDataFrame(
        offsets, f"{_FILE} string, {_START} long, line_offset long, row_offset long"
    )
    frame = frame.join(F.broadcast(table), [_FILE, _START])
    frame = frame.withColumn(ROW, F.col(_ROW_ID) + F.col("row_offset"))
    if blank is not None:
        frame = frame.withColumn(LINE, F.col(_LINE_ID) + F.col("line_offset"))
    frame = frame.drop(_FILE, _START, _LINE_ID, _ROW_ID, "line_offset", "row_offset")
    return frame, sum(split.rows for split in splits)


def read_jsonl(spark: "SparkSession", source: str) -> tuple["DataFrame", int]:
    """JSONL read as lines, then parsed: each row keeps its line, the line itself and its fields.

    Hadoop's line reader drops a UTF-8 byte-order mark at the start of a file, as the other
    readers do. The schema is inferred by Spark's JSON reader over the same file.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    lines = spark.read.text(source)
    frame, rows = number_rows(lines, F.col("value").rlike(r"^\s*$"))
    if not rows:
        return frame, rows
    schema = (
        spark.read.option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .json(source)
        .schema
    )
    if CORRUPT not in schema.fieldNames():
        schema = schema.add(CORRUPT, StringType())
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    parsed = frame.select(
        F.from_json("value", schema, options).alias("_parsed"),
        F.col("value").alias(RAW),
        F.json_object_keys("value").alias(KEYS),  # null for invalid JSON and for non-objects
        ROW,
        LINE,
    )
    return parsed.select("_parsed.*", RAW, KEYS, ROW, LINE), rows


def read_input(spark: "SparkSession", source: str, fmt: str, columns: Columns) -> "DataFrame":
    """A DataFrame of the input with ROW (LINE for JSONL) and, for JSONL/CSV, `_corrupt_record`.

    As in the in-process engine, a CSV or Parquet column named like an output column and an
    input with no rows are refused in one line before anything is scored.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    def check_header(header: list[str]) -> None:  # in the in-process engine's order
        if conflicts := columns.output_conflicts(header):
            raise column_conflict_error(source, conflicts)
        if columns.text not in header:
            raise BatchInputError(f"{source}: no column {columns.text!r} (columns: {header})")

    if fmt == "parquet":
        table = spark.read.parquet(source)
        check_header(table.columns)
        frame, rows = number_rows(table)
    elif fmt == "jsonl":
        frame, rows = read_jsonl(spark, source)
    else:
        header = spark.read.option("header", True).csv(source).columns
        if not header:
            raise no_rows_error(source)
        check_header(header)
        schema = StructType(
            [StructField(c, StringType()) for c in header] + [StructField(CORRUPT, StringType())]
        )
        frame, rows = number_rows(
            spark.read.schema(schema)
            .option("header", True)
            .option("multiLine", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .csv(source)
        )
    if not rows:
        raise no_rows_error(source)
    if columns.text not in frame.columns:  # JSONL: no row has the field
        frame = frame.withColumn(columns.text, F.lit(None).cast("string"))  # each: "text: missing"
    return frame


def with_reasons(frame, columns: Columns):
    """Adds `_reason` (why a row cannot be scored, else null) and the normalised `time`."""
    from pyspark.sql import functions as F

    text = F.col(columns.text)
    malformed = F.col(CORRUPT).isNotNull() if CORRUPT in frame.columns else F.lit(False)
    if KEYS in frame.columns:  # JSONL: also valid JSON that is not an object
        malformed = malformed | F.col(KEYS).isNull()
    reason = F.when(malformed, F.lit("malformed row")).otherwise(F.lit(None).cast("string"))
    text_type = dict(frame.dtypes)[columns.text]
    if text_type != "string":
        raise BatchInputError(f"column {columns.text!r} holds {text_type}, not text")
    checks = [
        (text.isNull(), f"{columns.text}: missing"),
        (F.length(F.trim(text)) == 0, f"{columns.text}: empty or whitespace only"),
        (F.length(text) > MAX_TEXT_CHARS, f"{columns.text}: longer than {MAX_TEXT_CHARS} characters"),
    ]
    if KEYS in frame.columns:  # JSONL rows vary: a row with a reserved field is rejected, as in batch
        reserved = columns.reserved()
        clashing = F.filter(F.col(KEYS), lambda key: key.isin(reserved))
        before, after = FIELD_CONFLICT.split("{}")
        reason_text = F.concat(F.lit(before), F.array_join(clashing, ", "), F.lit(after))
        checks.append((F.size(clashing) > 0, reason_text))
    if columns.time:
        if columns.time not in frame.columns:
            raise BatchInputError(f"no time column {columns.time!r} (columns: {frame.columns})")
        stamp = F.try_to_timestamp(F.col(columns.time).cast("string"))
        if dict(frame.dtypes)[columns.time].startswith("timestamp"):
            stamp = F.col(columns.time)
        frame = frame.withColumn("_stamp", stamp)
        checks += [
            (F.col(columns.time).isNull(), f"{columns.time}: missing"),
            (F.col("_stamp").isNull(), f"{columns.time}: not an ISO 8601 timestamp"),
        ]
    for condition, message in checks:
        message = F.lit(message) if isinstance(message, str) else message
        reason = F.when(reason.isNull() & condition, message).otherwise(reason)
    frame = frame.withColumn("_reason", reason)
    if columns.time:
        frame = frame.withColumn(TIME_COLUMN, F.date_format("_stamp", "yyyy-MM-dd'T'HH:mm:ss'Z'"))
    return frame


def reply_udf(book: ReplyBook, settings: ReplySettings, columns: Columns):
    """A pandas UDF from a struct of (text, id, name, time, score columns) to the reply columns.

    Executors run `suggestion_rows` and `ReplyBook.suggest_batch`, exactly what `Predictor`
    runs in-process, so the two engines give the same action, sub-case and priority for the
    same scores. No two consecutive replies of one Arrow batch share a wording, as in a chunk.
    """
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def replies(frame: pd.DataFrame) -> pd.DataFrame:
        def optional(name: str | None) -> list | None:
            return [None if pd.isna(v) else str(v) for v in frame[name]] if name else None

        rows = suggestion_rows(
            frame["text"].tolist(),
            frame["lang"].tolist(),
            frame[[f"score_{c}" for c in CAUSES]].to_numpy(dtype=float),
            frame["troll"].tolist(),
            frame["troll_score"].tolist(),
            ids=optional("id" if columns.id else None),
            names=optional("name" if columns.name else None),
            created_at=optional("time" if columns.time else None),
        )
        suggestions = book.suggest_batch(rows, settings)
        out = {c: [getattr(s, c) for s in suggestions] for c in REPLY_COLUMNS}
        out["respond_by"] = [iso_utc(s.respond_by) for s in suggestions]
        return pd.DataFrame(out, columns=list(REPLY_COLUMNS))

    return pandas_udf(replies, REPLY_TYPE)  # type: ignore[call-overload]


def score(
    spark,
    frame,
    model_uri: str,
    columns: Columns,
    book: ReplyBook | None = None,
    settings: dict[str, Any] | None = None,
):
    """Scored rows (input columns, `time`, the model's score columns, then the reply columns)
    and rejected rows (`row`, `line` for JSONL, `reason`, `record`: the in-process engine's
    rejects). `settings` override the reply book's company settings, as in `run_batch`."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    book = book or ReplyBook.load()
    resolved = book.settings.merged(settings)
    checked = with_reasons(frame, columns)
    dropped = {*INTERNAL, *([TIME_COLUMN] if columns.time else [])}
    if KEYS in frame.columns:  # JSONL: the rows holding these fields are rejected
        dropped.update(columns.reserved())
    inputs = [c for c in frame.columns if c not in dropped]
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE, env_manager="local")
    good = checked.filter(F.col("_reason").isNull())
    scored = good.withColumn("_scores", udf(F.struct(F.col(columns.text).alias("text"))))
    keep = inputs + ([TIME_COLUMN] if columns.time else [])
    scored = scored.select(*keep, *(F.col(f"_scores.{c}").alias(c) for c in SCORE_COLUMNS))
    reply_inputs = [F.col(columns.text).alias("text"), *(F.col(c) for c in SCORE_COLUMNS)]
    for field, column in (("id", columns.id), ("name", columns.name), ("time", columns.time and TIME_COLUMN)):
        if column:
            reply_inputs.append(F.col(column).cast("string").alias(field))
    replies = reply_udf(book, resolved, columns)
    scored = scored.withColumn("_replies", replies(F.struct(*reply_inputs)))
    scored = scored.select(*keep, *SCORE_COLUMNS, *(F.col(f"_replies.{c}").alias(c) for c in REPLY_COLUMNS))
    if RAW in frame.columns:
        record = F.col(RAW)
    else:
        record = F.to_json(F.struct(*inputs)) if inputs else F.lit(None)
        if CORRUPT in frame.columns:
            record = F.coalesce(F.col(CORRUPT), record)
    where = [F.col(ROW).alias("row"), *([F.col(LINE).alias("line")] if LINE in frame.columns else [])]
    rejects = checked.filter(F.col("_reason").isNotNull()).select(
        *where, F.col("_reason").alias("reason"), record.alias("record")
    )
    return scored, rejects


def write(frame, path: Path, fmt: str) -> None:
    writer = frame.write.mode("overwrite")
    if fmt == "csv":
        writer = writer.option("header", True)
    writer.format(SPARK_WRITE_FORMATS[fmt]).save(str(path))


def run_spark_batch(
    source: Path,
    output: Path,
    columns: Columns,
    *,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    input_format: str | None = None,
    master: str = "local[*]",
    shuffle_partitions: int = 4,
    spark: Any = None,
) -> SparkResult:
    """Score `source` into the folder `output` on Spark; rejects into `OUTPUT-stem.rejects.jsonl/`.

    `settings` override `configs/replies/settings.yaml` for the reply columns, as in `run_batch`."""
    fmt = file_format(source, input_format)
    out_fmt = file_format(output)
    model_uri = check_model_uri(model or os.environ.get("TRIAGE_MODEL_URI") or DEFAULT_MODEL_URI)
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    spark = spark or spark_session(master, shuffle_partitions)
    frame = read_input(spark, str(source), fmt, columns)
    cores = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < cores:  # a small file is one split: spread it over the cores
        frame = frame.repartition(cores)
    scored, rejects = score(spark, frame, model_uri, columns, settings=settings)
    write(scored, output, out_fmt)
    reject_dir = rejects_path(output)
    rejects.write.mode("overwrite").json(str(reject_dir))
    written = spark.read.format(SPARK_WRITE_FORMATS[out_fmt]).option("header", True).load(str(output))
    rejected = sum(count_lines(p) for p in reject_dir.glob("part-*"))
    return SparkResult(written.count(), rejected, output, reject_dir if rejected else None)
