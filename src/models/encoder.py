"""The transformer kind's network: one shared encoder, a cause head and a troll head.

Imported only when a transformer is trained or run through PyTorch (never by the baseline
path). Weights are saved as plain files: the encoder with `save_pretrained` (config.json +
safetensors) and both heads in one safetensors file, so nothing torch-specific is pickled.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, PreTrainedModel

ENCODER_DIR = "encoder"
HEADS_FILE = "heads.safetensors"


POOLINGS = ("cls", "mean")


class MultiTaskEncoder(nn.Module):
    """Encoder → pooled vector → two linear heads; the loss is a weighted sum of the two
    class-weighted cross-entropies (the Trainer minimises it when labels are given).

    `pooling`: `cls` takes the first token (BERT fine-tuning); `mean` averages the last hidden
    state over the attention mask, the pooling e5 was pretrained with.
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        n_causes: int,
        dropout: float = 0.1,
        cause_class_weights: list[float] | None = None,
        troll_class_weights: list[float] | None = None,
        loss_weights: tuple[float, float] = (1.0, 1.0),
        pooling: str = "cls",
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (known: {', '.join(POOLINGS)})")
        self.pooling = pooling
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.cause_head = nn.Linear(hidden, n_causes)
        self.troll_head = nn.Linear(hidden, 2)
        self.loss_weights = loss_weights
        # Not persistent: training-only, and kept out of the saved weights.
        self.register_buffer("cause_weights", _weights(cause_class_weights, n_causes), persistent=False)
        self.register_buffer("troll_weights", _weights(troll_class_weights, 2), persistent=False)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cause_labels: torch.Tensor | None = None,
        troll_labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Token ids, or `inputs_embeds` where the encoder is the top view of
        `triage.train.layer_cache` (training on cached lower-layer outputs)."""
        hidden = self.encoder(
            input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask
        ).last_hidden_state
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        else:
            pooled = hidden[:, 0]
        pooled = self.dropout(pooled)
        out = {"cause_logits": self.cause_head(pooled), "troll_logits": self.troll_head(pooled)}
        if cause_labels is not None and troll_labels is not None:
            cause_loss = nn.functional.cross_entropy(out["cause_logits"], cause_labels, self.cause_weights)
            troll_loss = nn.functional.cross_entropy(out["troll_logits"], troll_labels, self.troll_weights)
            out = {"loss": self.loss_weights[0] * cause_loss + self.loss_weights[1] * troll_loss, **out}
        return out

    def save(self, folder: Path) -> list[str]:
        """Write the encoder and the heads into `folder`; returns the files written (relative)."""
        self.encoder.save_pretrained(folder / ENCODER_DIR)
        heads = {f"cause.{k}": v for k, v in self.cause_head.state_dict().items()}
        heads.update({f"troll.{k}": v for k, v in self.troll_head.state_dict().items()})
        save_file({k: v.detach().cpu().contiguous() for k, v in heads.items()}, str(folder / HEADS_FILE))
        return [
            str(p.relative_to(folder)) for p in sorted((folder / ENCODER_DIR).rglob("*")) if p.is_file()
        ] + [HEADS_FILE]

    @classmethod
    def load(cls, folder: Path, n_causes: int, pooling: str = "cls") -> "MultiTaskEncoder":
        """Rebuild from the files `save` wrote (no network: a local folder)."""
        model = cls(AutoModel.from_pretrained(folder / ENCODER_DIR), n_causes, pooling=pooling)
        heads = load_file(str(folder / HEADS_FILE))
        model.cause_head.load_state_dict({k[6:]: v for k, v in heads.items() if k.startswith("cause.")})
        model.troll_head.load_state_dict({k[6:]: v for k, v in heads.items() if k.startswith("troll.")})
        return model.eval()


class LogitsOnly(nn.Module):
    """(input_ids, attention_mask) → (cause_logits, troll_logits): the graph exported to ONNX."""

    def __init__(self, model: MultiTaskEncoder):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out["cause_logits"], out["troll_logits"]


def _weights(values: list[float] | None, n: int) -> torch.Tensor:
    return torch.tensor(values if values is not None else [1.0] * n, dtype=torch.float32)
