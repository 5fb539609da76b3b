"""Export the fine-tuned network to ONNX for fast CPU serving with onnxruntime."""

from pathlib import Path

from triage.models.transformer import ONNX_FILE

OPSET = 17


def export_onnx(model, tokenizer, folder: Path, quantize: bool = False) -> str:
    """Write `model.onnx` (input_ids, attention_mask → cause_logits, troll_logits), batch and
    sequence length dynamic; with `quantize`, int8 dynamic quantisation of the MatMul weights
    per output channel (embeddings stay float: quantising them costs the most accuracy)."""
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
        from onnxruntime.quantization import QuantType, quantize_dynamic

        full = folder / "model.float32.onnx"
        target.rename(full)
        quantize_dynamic(
            str(full),
            str(target),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
        full.unlink()
    return ONNX_FILE
