"""`triage batch --engine spark`: the same scoring on Apache Spark, for data beyond one machine.

The registered MLflow model is applied with `mlflow.pyfunc.spark_udf` (a pandas UDF over Arrow
batches), so executors run exactly the pyfunc that `mlflow models serve` runs. A second pandas
UDF turns those scores into the reply columns (action, reply, sub-case, `priority`,
`priority_score`, `respond_by`) with the same functions as the in-process engine
(`suggestion_rows`, `ReplyBook.suggest_batch`); the reply book and the resolved company settings
are loaded once on the driver and shipped to the executors with the UDF. Rows are checked
with the same rules as the in-process engine; malformed ones go to a rejects folder with the
reason. Spark writes folders of part files (its own layout, readable by pandas, pyarrow and
Spark); resuming is Spark's own task retry, not the in-process engine's chunk manifest.
pyspark is imported here only, so nothing else in triage needs it (or Java).
"""

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.models.labels import CAUSES, MAX_TEXT_CHARS, SCORE_COLUMNS
from triage.serve.batch import REPLY_COLUMNS, REPLY_TYPES, TIME_COLUMN, Columns, count_lines, rejects_path
from triage.serve.batch_io import BatchInputError, file_format
from triage.serve.predictor import iso_utc, suggestion_rows
from triage.serve.replies import ReplyBook, ReplySettings

DEFAULT_MODEL_URI = "models:/triage@champion"
CORRUPT = "_corrupt_record"
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
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("triage-batch")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
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


def read_input(spark, source: str, fmt: str, text_column: str):
    """A DataFrame of the input, with a `_corrupt_record` column for unparseable JSONL/CSV rows."""
    from pyspark.sql.types import StringType, StructField, StructType

    if fmt == "parquet":
        frame = spark.read.parquet(source)
    elif fmt == "jsonl":
        frame = (
            spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).json(source)
        )
    else:
        header = spark.read.option("header", True).csv(source).columns
        schema = StructType(
            [StructField(c, StringType()) for c in header] + [StructField(CORRUPT, StringType())]
        )
        frame = (
            spark.read.schema(schema)
            .option("header", True)
            .option("multiLine", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .csv(source)
        )
    if text_column not in frame.columns:
        if CORRUPT in frame.columns and fmt == "jsonl":
            from pyspark.sql import functions as F

            frame = frame.withColumn(text_column, F.lit(None).cast("string"))
        else:
            raise BatchInputError(f"{source}: no column {text_column!r} (columns: {frame.columns})")
    return frame


def with_reasons(frame, columns: Columns):
    """Adds `_reason` (why a row cannot be scored, else null) and the normalised `time`."""
    from pyspark.sql import functions as F

    text = F.col(columns.text)
    reason = (
        F.when(F.col(CORRUPT).isNotNull(), F.lit("malformed row"))
        if CORRUPT in frame.columns
        else F.lit(None).cast("string")
    )
    text_type = dict(frame.dtypes)[columns.text]
    if text_type != "string":
        raise BatchInputError(f"column {columns.text!r} holds {text_type}, not text")
    checks = [
        (text.isNull(), f"{columns.text}: missing"),
        (F.length(F.trim(text)) == 0, f"{columns.text}: empty or whitespace only"),
        (F.length(text) > MAX_TEXT_CHARS, f"{columns.text}: longer than {MAX_TEXT_CHARS} characters"),
    ]
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
        reason = F.when(reason.isNull() & condition, F.lit(message)).otherwise(reason)
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
    and rejected rows. `settings` override the reply book's company settings, as in `run_batch`."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    book = book or ReplyBook.load()
    resolved = book.settings.merged(settings)
    checked = with_reasons(frame, columns)
    inputs = [c for c in frame.columns if c not in (CORRUPT, TIME_COLUMN)]
    conflicts = columns.output_conflicts(inputs, REPLY_COLUMNS)
    if conflicts:
        raise BatchInputError(
            f"input column(s) {conflicts} would be overwritten by the output; rename them first"
        )
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
    record = F.to_json(F.struct(*inputs)) if inputs else F.lit(None)
    if CORRUPT in frame.columns:
        record = F.coalesce(F.col(CORRUPT), record)
    rejects = checked.filter(F.col("_reason").isNotNull()).select(
        F.col("_reason").alias("reason"), record.alias("record")
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
    frame = read_input(spark, str(source), fmt, columns.text)
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
