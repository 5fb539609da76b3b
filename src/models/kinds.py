"""Model kind name → the class that loads it from an artifact (`load_state`).

One mapping, so the manifest check and `load_model` agree on which kinds exist. Both kinds are
light to import: the transformer imports its network libraries only when it first scores.
"""

from triage.models.baseline import KIND as LINEAR_KIND
from triage.models.baseline import TfidfLinearClassifier
from triage.models.transformer import KIND as TRANSFORMER_KIND
from triage.models.transformer import TransformerClassifier

KINDS: dict[str, type] = {LINEAR_KIND: TfidfLinearClassifier, TRANSFORMER_KIND: TransformerClassifier}


def loader(kind: str) -> type:
    """The class whose `load_state(folder, manifest)` rebuilds a model of `kind`."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})") from None
