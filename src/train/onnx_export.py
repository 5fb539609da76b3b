"""Export the fine-tuned network to ONNX for fast CPU serving with onnxruntime."""

from pathlib import Path

import numpy as np
from triage.models.transformer import ONNX_FILE

OPSET = 17


def export_onnx(model, tokenizer, folder: Path, quantize: bool = False) -> str:
    """Write `model.onnx` (input_ids, attention_mask → cause_logits, troll_logits), batch and
    sequence length dynamic; with `quantize`, replace it by its int8 version (`quantize_onnx`)."""
    import torch
    from triage.models.encoder import LogitsOnly

    # Rows of different lengths: the traced graph must see padding to keep the attention mask.
    sample = tokenizer(["a longer sample text, with padding", "short"], padding=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"])
    target = folder / ONNX_FILE
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        LogitsOnly(model).eval(),
        inputs,
        str(target),
        input_names=["input_ids", "attention_mask"],
        output_names=["cause_logits", "troll_logits"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "cause_logits": {0: "batch"},
            "troll_logits": {0: "batch"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    if quantize:
        full = folder / "model.float32.onnx"
        target.rename(full)
        quantize_onnx(full, target)
        full.unlink()
    return ONNX_FILE


def quantize_onnx(source: Path, target: Path) -> Path:
    """int8 dynamic quantisation of the MatMul weights per output channel, except the ones that
    narrow the width (`narrowing_matmuls`). Embeddings stay float: quantising them costs the most
    accuracy. `reduce_range` keeps 7-bit weights, which avoids the int16 saturation of int8 dot
    products on CPUs without VNNI (AVX2 only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=int8_matmuls(source),
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
    )
    return target


def int8_matmuls(path: Path) -> list[str]:
    """The MatMuls to quantise: all but those whose weight maps a wider input to a narrower
    output. In a transformer layer that is the feed-forward down-projection (1,536 → 384 in
    e5-small), which reads the post-GELU activations, whose outliers int8 handles worst: with it
    in float, 98.5% of the default's decisions on valid stay the same, 96.3% without
    (benchmarks/int8_gate.py, reports/int8.json)."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}

    def narrowing(node) -> bool:
        shape = shapes.get(node.input[1], [])
        return len(shape) == 2 and shape[0] > shape[1]

    return [node.name for node in graph.node if node.op_type == "MatMul" and not narrowing(node)]


def decision_agreement(reference: tuple, candidate: tuple, troll_threshold: float) -> float:
    """Share of comments where two scorers give the same cause and the same troll decision."""
    same_cause = reference[0].argmax(1) == candidate[0].argmax(1)
    same_troll = (reference[1] >= troll_threshold) == (candidate[1] >= troll_threshold)
    return float(np.mean(same_cause & same_troll))
