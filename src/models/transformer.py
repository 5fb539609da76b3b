"""The transformer kind at inference: tokenizer + encoder files in the artifact folder.

The artifact holds the settings and calibration as `transformer.json` + `calibration.npz`
(no pickle) and the network as plain files (`encoder/`, `heads.safetensors`, `tokenizer/`,
and `model.onnx` when exported). Scoring prefers the ONNX file through onnxruntime, which
needs neither torch nor transformers; without it the PyTorch weights are used. Heavy
libraries are imported only when the first batch is scored.
"""

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from triage.models.calibration import PlainCalibrator, calibrated_proba
from triage.models.labels import CAUSES
from triage.models.persist import read_arrays, read_json, write_arrays, write_json

KIND = "transformer"
STATE_JSON = "transformer.json"
CALIBRATION_FILE = "calibration.npz"
TOKENIZER_FILE = "tokenizer/tokenizer.json"
ONNX_FILE = "model.onnx"
BACKENDS = ("auto", "onnx", "torch")
THREADS_ENV = "TRIAGE_ONNX_THREADS"


def onnx_threads(settings: dict[str, Any]) -> int | None:
    """onnxruntime's intra-op threads: `$TRIAGE_ONNX_THREADS` where set (the service sets it to
    cores / workers, Spark to 1 per task: two processes each spinning threads on every core
    slow each other down), else the model's `threads` setting (None: onnxruntime's default)."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads (1 or more), not {value!r}")
        return int(value)
    return int(settings["threads"]) if settings.get("threads") else None


class TransformerClassifier:
    """Cause and troll probabilities from a fine-tuned encoder, calibrated on valid."""

    kind = KIND
    serving_batch_items = 32
    """A fair batch for the HTTP queue (`triage.serve.serving`): about 0.5 s on 2 cores."""

    def __init__(self, settings: dict[str, Any], folder: Path, files: list[str]):
        self.settings = settings
        """max_length, batch_size, pad_id, pad_token and how the model was built."""
        self.files = files
        self.cause_calibrator = None
        self.troll_calibrator = None
        self.backend = "auto"
        self._folder = folder
        self._runtime = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runtime"] = None  # sessions and modules are rebuilt from the files
        state["_folder"] = None  # the artifact folder is bound at load time
        return state

    # --- artifact files -------------------------------------------------------------
    def save_state(self, path: Path) -> list[str]:
        """Copy the network's files into the artifact folder `path` and write the settings and
        calibration as JSON + arrays; returns every file written (relative names)."""
        if self._folder is None:
            raise RuntimeError("the transformer's files are not attached")
        if self._folder.resolve() != path.resolve():
            for name in self.files:
                target = path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self._folder / name, target)
        calibration, arrays = {}, {}
        for head in ("cause", "troll"):
            calibrator = getattr(self, f"{head}_calibrator")
            if not isinstance(calibrator, PlainCalibrator):
                calibrator = PlainCalibrator.from_sklearn(calibrator, logits=True)
            calibration[head], head_arrays = calibrator.to_arrays(head)
            arrays.update(head_arrays)
        state = {"settings": self.settings, "files": list(self.files), "calibration": calibration}
        write_json(path / STATE_JSON, state)
        write_arrays(path / CALIBRATION_FILE, arrays)
        return [*self.files, STATE_JSON, CALIBRATION_FILE]

    @classmethod
    def load_state(cls, path: Path, manifest: Any) -> "TransformerClassifier":
        """Bind to the artifact folder it was saved in; every network file must be listed there."""
        state, arrays = read_json(path / STATE_JSON), read_arrays(path / CALIBRATION_FILE)
        listed = set(getattr(manifest, "files", {}) or {})
        unlisted = [name for name in state["files"] if name not in listed]
        if unlisted:
            raise ValueError(f"model file(s) not covered by the manifest: {', '.join(unlisted)}")
        classifier = cls(dict(state["settings"]), path, [str(name) for name in state["files"]])
        classifier.cause_calibrator = PlainCalibrator.from_arrays(
            "cause", state["calibration"]["cause"], arrays
        )
        classifier.troll_calibrator = PlainCalibrator.from_arrays(
            "troll", state["calibration"]["troll"], arrays
        )
        return classifier

    @property
    def has_onnx(self) -> bool:
        return ONNX_FILE in self.files

    def use_backend(self, backend: str) -> "TransformerClassifier":
        """`auto` (ONNX when exported, else PyTorch), `onnx` or `torch`."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        if backend == "onnx" and not self.has_onnx:
            raise ValueError("this model has no ONNX export")
        self.backend, self._runtime = backend, None
        return self

    # --- scoring --------------------------------------------------------------------
    def _get_runtime(self):
        if self._runtime is None:
            if self._folder is None:
                raise RuntimeError("the transformer's files are not attached (load it with load_model)")
            use_onnx = self.backend == "onnx" or (self.backend == "auto" and self.has_onnx)
            runtime = _OnnxRuntime if use_onnx else _TorchRuntime
            self._runtime = runtime(self._folder, self.settings)
        return self._runtime

    def logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw cause (n × 7) and troll (n × 2) logits, batched by length to limit padding."""
        texts = list(texts)
        cause = np.zeros((len(texts), len(CAUSES)), dtype=np.float32)
        troll = np.zeros((len(texts), 2), dtype=np.float32)
        if not texts:
            return cause, troll
        runtime = self._get_runtime()
        prefix = str(self.settings.get("prefix", ""))
        encodings = runtime.tokenizer.encode_batch([prefix + str(t) for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        size = int(self.settings.get("batch_size", 32))
        for start in range(0, len(order), size):
            index = order[start : start + size]
            width = max(len(encodings[i].ids) for i in index)
            ids = np.full((len(index), width), self.settings["pad_id"], dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for row, i in enumerate(index):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            cause[index], troll[index] = runtime.run(ids, mask)
        return cause, troll

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cause probabilities (n × 7, in `CAUSES` order) and troll probabilities (n)."""
        if self.cause_calibrator is None or self.troll_calibrator is None:
            raise RuntimeError("the classifier is not calibrated")
        cause_logits, troll_logits = self.logits(texts)
        cause = calibrated_proba(self.cause_calibrator, cause_logits, len(CAUSES))
        troll = calibrated_proba(self.troll_calibrator, troll_logits, 2)[:, 1]
        return cause, troll


def load_tokenizer(folder: Path, settings: dict[str, Any]):
    """The saved fast tokenizer with the model's truncation (padding is done per batch)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(int(settings["max_length"]))
    return tokenizer


class _OnnxRuntime:
    def __init__(self, folder: Path, settings: dict[str, Any]):
        import onnxruntime as ort

        options = ort.SessionOptions()
        threads = onnx_threads(settings)
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = load_tokenizer(folder, settings)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cause, troll = self.session.run(
            ["cause_logits", "troll_logits"], {"input_ids": ids, "attention_mask": mask}
        )
        return cause, troll


class _TorchRuntime:
    def __init__(self, folder: Path, settings: dict[str, Any]):
        import torch
        from triage.models.encoder import MultiTaskEncoder

        self.torch = torch
        self.model = MultiTaskEncoder.load(folder, len(CAUSES), str(settings.get("pooling", "cls")))
        self.tokenizer = load_tokenizer(folder, settings)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self.torch.inference_mode():
            out = self.model(input_ids=self.torch.from_numpy(ids), attention_mask=self.torch.from_numpy(mask))
        return out["cause_logits"].float().numpy(), out["troll_logits"].float().numpy()
