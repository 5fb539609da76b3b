"""The blend kind: calibrated probabilities of several fitted models, averaged with weights.

Why: the fine-tuned encoder and the TF-IDF model make different mistakes (the encoder reads
meaning and registers, the n-grams catch the exact words of a cause), and their average
beat either alone on valid. Each member is saved by its own kind into a subfolder
(`member-0-transformer/`, `member-1-tfidf_linear/`, ...); `blend.json` names them and holds
the weights that training chose on valid. Every member file is listed in the artifact's
manifest with its sha256, so loading verifies them like any other file.

A cascade makes the blend cheap where it can be: the fast member (TF-IDF, thousands of
comments a second) scores every comment, and where it is confident (top cause probability at
least `min_cause_proba` and troll probability at least `min_troll_margin` from 0.5) its
answer stands; only the rest go through the other members. Training picks the two bounds on
valid (`triage.train.blend_fit`); without them every comment goes through every member.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from triage.models.persist import read_json, write_json

KIND = "blend"
STATE_JSON = "blend.json"


class BlendClassifier:
    """Weighted average of members' calibrated cause and troll probabilities."""

    kind = KIND

    def __init__(
        self,
        members: Sequence[Any],
        cause_weights: Sequence[float],
        troll_weights: Sequence[float],
        cascade: dict[str, Any] | None = None,
    ):
        if not members:
            raise ValueError("a blend needs at least one member")
        for name, weights in (("cause", cause_weights), ("troll", troll_weights)):
            if len(weights) != len(members):
                raise ValueError(f"{len(weights)} {name} weights for {len(members)} members")
            if min(weights) < 0 or not np.isclose(sum(weights), 1.0):
                raise ValueError(f"{name} weights must be non-negative and sum to 1, not {list(weights)}")
        self.members = list(members)
        self.cause_weights = [float(w) for w in cause_weights]
        self.troll_weights = [float(w) for w in troll_weights]
        self.cascade = _checked_cascade(cascade, len(self.members))
        self.training_info: dict[str, Any] = {}

    @property
    def serving_batch_items(self) -> int:
        """The smallest of the members' fair batches for the HTTP queue."""
        return min(m.serving_batch_items for m in self.members)

    @property
    def member_kinds(self) -> list[str]:
        return [member.kind for member in self.members]

    def member_proba(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's (cause, troll) probabilities; members with zero weight are skipped."""
        return [
            member.predict_proba(texts) if cw or tw else (None, None)
            for member, cw, tw in zip(self.members, self.cause_weights, self.troll_weights, strict=True)
        ]

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not self.cascade:
            return self.combine(self.member_proba(texts))
        fast_index = self.cascade["fast_member"]
        cause, troll = self.members[fast_index].predict_proba(texts)
        rest = np.flatnonzero(~self.confident(cause, troll))
        if rest.size:
            subset = [texts[i] for i in rest]
            outputs = [
                (cause[rest], troll[rest]) if i == fast_index else member.predict_proba(subset)
                for i, member in enumerate(self.members)
            ]
            cause, troll = cause.copy(), troll.copy()
            cause[rest], troll[rest] = self.combine(outputs)
        return cause, troll

    def confident(self, cause: np.ndarray, troll: np.ndarray, cascade: dict | None = None) -> np.ndarray:
        """Where the fast member's own answer stands (the cascade's rule)."""
        rule = cascade or self.cascade
        return (cause.max(axis=1) >= rule["min_cause_proba"]) & (
            np.abs(troll - 0.5) >= rule["min_troll_margin"]
        )

    def combine(self, probabilities: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """The weighted average of members' outputs (as `member_proba` returns them)."""
        cause = sum(w * p[0] for w, p in zip(self.cause_weights, probabilities, strict=True) if w)
        troll = sum(w * p[1] for w, p in zip(self.troll_weights, probabilities, strict=True) if w)
        return np.asarray(cause), np.asarray(troll)

    # --- artifact files -------------------------------------------------------------
    def save_state(self, path: Path) -> list[str]:
        names, folders = [], []
        for index, member in enumerate(self.members):
            folder = f"member-{index}-{member.kind}"
            (path / folder).mkdir(parents=True, exist_ok=True)
            names += [f"{folder}/{name}" for name in member.save_state(path / folder)]
            folders.append(folder)
        write_json(
            path / STATE_JSON,
            {
                "members": [
                    {"kind": k, "folder": f} for k, f in zip(self.member_kinds, folders, strict=True)
                ],
                "cause_weights": self.cause_weights,
                "troll_weights": self.troll_weights,
                "cascade": self.cascade,
            },
        )
        return [*names, STATE_JSON]

    @classmethod
    def load_state(cls, path: Path, manifest: Any) -> "BlendClassifier":
        """Each member through its own kind's loader, seeing only its own files in the manifest."""
        from triage.models.kinds import loader

        state = read_json(path / STATE_JSON)
        members = []
        for entry in state["members"]:
            kind, folder = str(entry["kind"]), str(entry["folder"])
            if kind == KIND:
                raise ValueError("a blend cannot contain another blend")
            if "/" in folder or folder.startswith(".") or not (path / folder).is_dir():
                raise ValueError(f"blend member folder {folder!r} is missing or not a plain name")
            prefix = folder + "/"
            files = {k[len(prefix) :]: v for k, v in manifest.files.items() if k.startswith(prefix)}
            members.append(
                loader(kind).load_state(path / folder, manifest.model_copy(update={"files": files}))
            )
        return cls(members, state["cause_weights"], state["troll_weights"], state.get("cascade"))


def _checked_cascade(cascade: dict[str, Any] | None, n_members: int) -> dict[str, Any] | None:
    if not cascade:
        return None
    expected = {"fast_member", "min_cause_proba", "min_troll_margin"}
    if set(cascade) != expected:
        raise ValueError(f"a cascade needs exactly {', '.join(sorted(expected))}")
    fast = cascade["fast_member"]
    if not isinstance(fast, int) or not 0 <= fast < n_members:
        raise ValueError(f"cascade fast_member {fast!r} is not a member index")
    if not 0 <= cascade["min_cause_proba"] <= 1 or not 0 <= cascade["min_troll_margin"] <= 0.5:
        raise ValueError("cascade bounds out of range (cause proba 0..1, troll margin 0..0.5)")
    return {
        "fast_member": fast,
        "min_cause_proba": float(cascade["min_cause_proba"]),
        "min_troll_margin": float(cascade["min_troll_margin"]),
    }
