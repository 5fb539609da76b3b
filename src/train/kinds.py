"""The registry of model kinds: a kind's name → how to build its trainer from a config.

Adding a kind touches this file only (plus its own modules). A trainer's `fit(texts, causes,
trolls, valid_texts, valid_causes, valid_trolls)` returns the fitted classifier. Heavy
libraries are imported inside the builders, so the TF-IDF path never loads torch.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.train.config import ConfigError


def _tfidf_linear(params: dict[str, Any]):
    from triage.models.baseline import LinearConfig, TfidfLinearClassifier

    return TfidfLinearClassifier(LinearConfig.from_dict(params))


def _transformer(params: dict[str, Any]):
    from triage.train.transformer_fit import TransformerConfig, TransformerFitter

    return TransformerFitter(TransformerConfig.from_dict(params))


TRAINERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "tfidf_linear": _tfidf_linear,
    "transformer": _transformer,
}


def build_trainer(kind: str, params: dict[str, Any], source: Path):
    """The kind's trainer; a bad kind or setting is a `ConfigError` naming the config file."""
    if kind not in TRAINERS:
        raise ConfigError(f"{source}: unknown model kind {kind!r} (known: {', '.join(sorted(TRAINERS))})")
    try:
        return TRAINERS[kind](params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
