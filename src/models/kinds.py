"""The registry of model kinds: a kind's name → how to load it and how to train it.

Adding a kind touches this mapping only (plus the kind's own modules). `classifier` is the class
whose `load_state(folder, manifest)` rebuilds a fitted model from an artifact (the manifest
check and `load_model` use it); `trainer` names, as `module:attribute`, the callable that
builds the kind's trainer from a config's `params`. The trainer is imported only by the
training code (`triage.train.kinds`), so loading a model never imports training libraries and
`models`/`serve` never import `train`. Both classifiers are light to import: the transformer
loads its network libraries only when it first scores.
"""

from dataclasses import dataclass

from triage.models.baseline import KIND as LINEAR_KIND
from triage.models.baseline import TfidfLinearClassifier
from triage.models.blend import KIND as BLEND_KIND
from triage.models.blend import BlendClassifier
from triage.models.transformer import KIND as TRANSFORMER_KIND
from triage.models.transformer import TransformerClassifier


@dataclass(frozen=True)
class Kind:
    classifier: type
    trainer: str


KINDS: dict[str, Kind] = {
    LINEAR_KIND: Kind(
        classifier=TfidfLinearClassifier,
        trainer="triage.models.baseline:TfidfLinearClassifier.from_params",
    ),
    TRANSFORMER_KIND: Kind(
        classifier=TransformerClassifier,
        trainer="triage.train.transformer_fit:TransformerFitter.from_params",
    ),
    BLEND_KIND: Kind(
        classifier=BlendClassifier,
        trainer="triage.train.blend_fit:BlendFitter.from_params",
    ),
}


def loader(kind: str) -> type:
    """The class whose `load_state(folder, manifest)` rebuilds a model of `kind`."""
    try:
        return KINDS[kind].classifier
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})") from None
