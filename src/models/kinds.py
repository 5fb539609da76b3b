"""The registry of model kinds: a kind's name → how to load it and how to train it.

Adding a kind touches this mapping only (plus the kind's own modules). `classifier` names, as
`module:attribute`, the class whose `load_state(folder, manifest)` rebuilds a fitted model from
an artifact (the manifest check and `load_model` use it); `trainer` names the callable that
builds the kind's trainer from a config's `params`. Both are imported on demand: the trainer
only by the training code (`triage.train.kinds`), so loading a model never imports training
libraries and `models`/`serve` never import `train`; and a kind that holds other kinds (the
blend) can look them up here without an import circle.
"""

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    classifier: str
    trainer: str


KINDS: dict[str, Kind] = {  # each key is its class's `kind` (tests/test_layout.py checks)
    "tfidf_linear": Kind(
        classifier="triage.models.baseline:TfidfLinearClassifier",
        trainer="triage.models.baseline:TfidfLinearClassifier.from_params",
    ),
    "transformer": Kind(
        classifier="triage.models.transformer:TransformerClassifier",
        trainer="triage.train.transformer_fit:TransformerFitter.from_params",
    ),
    "blend": Kind(
        classifier="triage.models.blend:BlendClassifier",
        trainer="triage.train.blend_fit:BlendFitter.from_params",
    ),
}


def resolve(path: str) -> Any:
    """The object a `module:attribute.attribute` path names."""
    module, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module)
    for name in attribute.split("."):
        target = getattr(target, name)
    return target


def loader(kind: str) -> type:
    """The class whose `load_state(folder, manifest)` rebuilds a model of `kind`."""
    try:
        return resolve(KINDS[kind].classifier)
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})") from None
