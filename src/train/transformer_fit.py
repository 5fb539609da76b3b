"""Fine-tuning the transformer kind with the Hugging Face `Trainer`.

A pretrained checkpoint (`model_name_or_path`, local folder or cache) or, with `tiny`, a
small BERT-style encoder built from a config with its own WordPiece tokenizer trained on the
train split: the whole path then runs offline. Tokenisation and batching use `datasets`;
the Trainer brings seeding, the learning-rate schedule, early stopping on valid cause
macro-F1, the best checkpoint, mixed precision on a GPU, and data-parallel runs under
`accelerate launch` / `torchrun`. Calibration is the baseline's (`calibrate_logits`).
"""

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from triage.models.calibration import calibrate_logits
from triage.models.labels import CAUSES
from triage.models.transformer import ONNX_FILE, TOKENIZER_FILE, TransformerClassifier
from triage.train.config import known_settings
from triage.train.distributed import is_main_process

log = logging.getLogger(__name__)
SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


@dataclass
class TransformerConfig:
    """`params:` of `configs/transformer*.yaml`."""

    model_name_or_path: str | None = None
    tiny: dict[str, int] | None = None
    """Build a small BERT from this config (hidden_size, num_hidden_layers, ...) instead."""
    vocab_size: int = 8000
    """Size of the WordPiece vocabulary trained for `tiny`."""
    max_length: int = 128
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.1
    num_train_epochs: int = 5
    early_stopping_patience: int = 2
    cause_loss_weight: float = 1.0
    troll_loss_weight: float = 1.0
    dropout: float = 0.1
    pooling: str = "cls"
    """`cls` (first token) or `mean` over the attention mask (what e5 was trained with)."""
    prefix: str = ""
    """Put before every text at training and inference (e5 expects `query: `)."""
    freeze_embeddings: bool = False
    """Keep the word-embedding matrix fixed (250k rows in multilingual models)."""
    freeze_layers: int = 0
    """Keep the lowest N encoder layers fixed: less backward work per step."""
    cache_frozen_layers: bool = True
    """With frozen embeddings and `freeze_layers` > 0, compute the frozen layers once and train
    the rest on their cached output (`triage.train.layer_cache`) instead of every step."""
    group_by_length: bool = False
    """Batch texts of similar length together in training (less padding)."""
    seed: int = 13
    calibration: str = "temperature"
    onnx: bool = True
    quantize: bool = False
    """Try int8 ONNX weights; kept only where decisions agree with fp32 on `min_int8_agreement` of valid."""
    min_int8_agreement: float = 0.97
    threads: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TransformerConfig":
        config = cls(**known_settings(cls, values, "transformer"))
        if (config.model_name_or_path is None) == (config.tiny is None):
            raise ValueError("set exactly one of model_name_or_path and tiny")
        return config


def class_weights(labels: np.ndarray, n_classes: int) -> list[float]:
    """Balanced weights n / (k · count) from the train split; 1.0 for classes it lacks."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.tolist()


def train_wordpiece(texts: Sequence[str], vocab_size: int, max_length: int):
    """A lower-casing WordPiece tokenizer (accents kept: й and ї are letters here)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk"]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()))
    tokenizer.train_from_iterator(texts, trainer)
    cls_id, sep_id = (tokenizer.token_to_id(SPECIAL_TOKENS[k]) for k in ("cls", "sep"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=max_length,
        **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()},
    )


def freeze(encoder, embeddings: bool, layers: int) -> None:
    """Stop gradients to the word embeddings and/or the lowest `layers` layers."""
    if embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    if layers:
        blocks = encoder.encoder.layer
        if layers > len(blocks):
            raise ValueError(f"freeze_layers {layers} exceeds the encoder's {len(blocks)} layers")
        for block in blocks[:layers]:
            block.requires_grad_(False)


def _tokenizer_and_encoder(config: TransformerConfig, texts: Sequence[str]):
    from transformers import AutoModel, AutoTokenizer, BertConfig

    if config.model_name_or_path is not None:
        tokenizer = AutoTokenizer.from_pretrained(config.model_name_or_path)
        if not tokenizer.is_fast:
            raise ValueError(f"{config.model_name_or_path}: a fast (tokenizers) tokenizer is needed")
        return tokenizer, AutoModel.from_pretrained(config.model_name_or_path, add_pooling_layer=False)
    tokenizer = train_wordpiece(texts, config.vocab_size, config.max_length)
    encoder_config = BertConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=max(config.max_length, 32),
        **config.tiny,
    )
    return tokenizer, AutoModel.from_config(encoder_config)


def _dataset(tokenizer, texts, causes, trolls, max_length: int, prefix: str = ""):
    from datasets import Dataset

    data = Dataset.from_dict(
        {
            "text": [prefix + t for t in texts],
            "cause_labels": [CAUSES.index(c) for c in causes],
            "troll_labels": [int(t) for t in trolls],
        }
    )
    return data.map(
        lambda batch: tokenizer(
            batch["text"], truncation=True, max_length=max_length, return_token_type_ids=False
        ),
        batched=True,
        remove_columns=["text"],
    )


def _compute_metrics(prediction) -> dict[str, float]:
    cause_logits, troll_logits = prediction.predictions
    cause_labels, troll_labels = prediction.label_ids
    return {
        "cause_macro_f1": f1_score(cause_labels, cause_logits.argmax(1), average="macro"),
        "troll_f1": f1_score(troll_labels, troll_logits.argmax(1), zero_division=0.0),
    }


def _training_arguments(config: TransformerConfig, output_dir: str):
    import torch
    from transformers import TrainingArguments

    gpu = torch.cuda.is_available()
    bf16 = gpu and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=output_dir,
        seed=config.seed,
        data_seed=config.seed,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        num_train_epochs=config.num_train_epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="cause_macro_f1",
        greater_is_better=True,
        save_total_limit=2,
        save_only_model=True,
        label_names=["cause_labels", "troll_labels"],
        bf16=bf16,
        fp16=gpu and not bf16,
        use_cpu=not gpu,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
    )


def try_int8(classifier: TransformerClassifier, valid_texts: Sequence[str], min_agreement: float) -> dict:
    """Quantise model.onnx to int8 and keep it only if cause and troll decisions on valid agree
    with fp32 on at least `min_agreement` of comments (at the 0.5 troll score)."""
    from triage.train.onnx_export import decision_agreement, quantize_onnx

    folder = classifier._folder
    full, quantized = folder / ONNX_FILE, folder / "model.int8.onnx"
    reference = classifier.use_backend("onnx").predict_proba(valid_texts)
    quantize_onnx(full, quantized)
    full.rename(folder / "model.float32.onnx")
    quantized.rename(full)
    candidate = classifier.use_backend("onnx").predict_proba(valid_texts)
    agreement = decision_agreement(reference, candidate, 0.5)
    kept = agreement >= min_agreement
    if kept:
        (folder / "model.float32.onnx").unlink()
    else:
        full.unlink()
        (folder / "model.float32.onnx").rename(full)
    classifier.use_backend("auto")
    log.info(
        "int8 ONNX: %.1f%% of valid decisions agree with fp32 -> %s",
        100 * agreement,
        "kept" if kept else "fp32",
    )
    return {"valid_decision_agreement": round(agreement, 4), "min_agreement": min_agreement, "kept": kept}


def _cached(encoder, frozen_layers: int, train_data, valid_data, batch_size: int):
    """Datasets of the frozen layers' output, their collator and the encoder's top view."""
    from triage.train.layer_cache import CachedDataset, collate_cached, hidden_states, split_encoder

    bottom, top = split_encoder(encoder, frozen_layers)
    cached = [CachedDataset(d, hidden_states(bottom, d, batch_size)) for d in (train_data, valid_data)]
    log.info("cached the output of %d frozen layers for %d texts", frozen_layers, sum(map(len, cached)))
    return cached[0], cached[1], collate_cached, top


class TransformerFitter:
    """`fit` trains, exports and calibrates; it returns the `TransformerClassifier`."""

    kind = "transformer"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "TransformerFitter":
        return cls(TransformerConfig.from_dict(params))

    def __init__(self, config: TransformerConfig):
        self.config = config
        self.training_info: dict[str, Any] = {}

    def fit(
        self, texts, causes, trolls, valid_texts, valid_causes, valid_trolls
    ) -> TransformerClassifier | None:
        import torch
        from transformers import EarlyStoppingCallback, Trainer, set_seed
        from triage.models.encoder import MultiTaskEncoder

        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        set_seed(config.seed)
        tokenizer, encoder = _tokenizer_and_encoder(config, texts)
        model = MultiTaskEncoder(
            encoder,
            len(CAUSES),
            dropout=config.dropout,
            cause_class_weights=class_weights(np.array([CAUSES.index(c) for c in causes]), len(CAUSES)),
            troll_class_weights=class_weights(np.asarray(trolls, int), 2),
            loss_weights=(config.cause_loss_weight, config.troll_loss_weight),
            pooling=config.pooling,
        )
        freeze(model.encoder, config.freeze_embeddings, config.freeze_layers)
        train_data = _dataset(tokenizer, texts, causes, trolls, config.max_length, config.prefix)
        valid_data = _dataset(
            tokenizer, valid_texts, valid_causes, valid_trolls, config.max_length, config.prefix
        )
        started = time.perf_counter()
        full_encoder, collator = model.encoder, None
        if config.cache_frozen_layers and config.freeze_embeddings and config.freeze_layers:
            train_data, valid_data, collator, model.encoder = _cached(
                full_encoder, config.freeze_layers, train_data, valid_data, config.eval_batch_size
            )
            self.training_info["cached_layers"] = config.freeze_layers
            self.training_info["cache_seconds"] = round(time.perf_counter() - started, 2)
        from transformers import DataCollatorWithPadding

        with tempfile.TemporaryDirectory(prefix="triage-checkpoints-") as checkpoints:
            trainer = Trainer(
                model=model,
                args=_training_arguments(config, checkpoints),
                train_dataset=train_data,
                eval_dataset=valid_data,
                data_collator=collator or DataCollatorWithPadding(tokenizer),
                compute_metrics=_compute_metrics,
                callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)],
            )
            result = trainer.train()
            seconds = time.perf_counter() - started
            state = trainer.state
        model.encoder = full_encoder  # the top view's layers are the full encoder's own modules
        epochs = max(float(state.epoch or 0), 1e-9)
        self.training_info |= {
            "epochs_run": round(epochs, 2),
            "train_seconds": round(seconds, 2),
            "seconds_per_epoch": round(seconds / epochs, 2),
            "best_valid_cause_macro_f1": state.best_metric,
            "train_loss": round(float(result.training_loss), 4),
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        }
        log.info("transformer trained: %s", self.training_info)
        if not is_main_process():
            return None  # data-parallel run: rank 0 saves, exports and calibrates
        model = trainer.accelerator.unwrap_model(trainer.model).cpu().eval()
        folder = Path(tempfile.mkdtemp(prefix="triage-transformer-"))
        files = model.save(folder)
        tokenizer.save_pretrained(folder / Path(TOKENIZER_FILE).parent)
        files += [str(p.relative_to(folder)) for p in sorted((folder / "tokenizer").iterdir()) if p.is_file()]
        if config.onnx:
            from triage.train.onnx_export import export_onnx

            files.append(export_onnx(model, tokenizer, folder))
        settings = {
            **{k: v for k, v in asdict(config).items() if k != "onnx"},
            "pad_id": tokenizer.pad_token_id,
            "pad_token": tokenizer.pad_token,
        }
        classifier = TransformerClassifier(settings, folder, files)
        cause_logits, troll_logits = classifier.logits(valid_texts)
        classifier.cause_calibrator = calibrate_logits(
            cause_logits, np.array([CAUSES.index(c) for c in valid_causes]), config.calibration
        )
        classifier.troll_calibrator = calibrate_logits(
            troll_logits, np.asarray(valid_trolls, int), config.calibration
        )
        provenance = Path(config.model_name_or_path or "") / "provenance.json"
        if config.model_name_or_path and provenance.is_file():
            recorded = json.loads(provenance.read_text(encoding="utf-8"))
            self.training_info["pretrained"] = {k: v for k, v in recorded.items() if k != "files"}
        if config.onnx and config.quantize:
            self.training_info["int8"] = try_int8(classifier, valid_texts, config.min_int8_agreement)
        classifier.training_info = self.training_info
        return classifier
