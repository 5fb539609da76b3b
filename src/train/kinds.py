"""Build a kind's trainer from the registry in `triage.models.kinds`.

A trainer's `fit(texts, causes, trolls, valid_texts, valid_causes, valid_trolls)` returns the
fitted classifier. The trainer's module is imported here, on demand, so the TF-IDF path never
loads torch.
"""

from pathlib import Path
from typing import Any

from triage.models.kinds import KINDS, resolve
from triage.train.config import ConfigError


def build_trainer(kind: str, params: dict[str, Any], source: Path):
    """The kind's trainer; a bad kind or setting is a `ConfigError` naming the config file."""
    if kind not in KINDS:
        raise ConfigError(f"{source}: unknown model kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    target = resolve(KINDS[kind].trainer)
    try:
        return target(params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
