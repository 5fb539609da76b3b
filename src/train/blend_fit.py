"""Training the blend kind: fit each member from its own config, then choose weights on valid.

`params.members` lists model configs (`configs/e5-small.yaml`, `configs/linear.yaml`); each
is fitted on the same train split and calibrated on valid by its own kind. The cause weight
of the first member is the one of `weight_grid` with the best valid cause macro-F1, the troll
weight the one with the best valid troll F1 at its own best threshold (two members: the
second gets the rest). Ties go to the weight nearest an even split. `weights: [w, 1 - w]`
fixes them instead. The blend's troll threshold is then tuned on valid like any kind's.

`cascade: tune` then looks, on valid, for the bounds under which the fast member's answer
stands (`triage.models.blend`): of the points of `cascade_grid` whose cause macro-F1 and troll
F1 are each at most `cascade_max_valid_loss` below the full blend's, the one that sends the
fewest comments to the other members. None qualifies: no cascade.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from triage.models.blend import KIND, BlendClassifier
from triage.models.labels import CAUSES
from triage.train.config import known_settings


@dataclass
class BlendConfig:
    members: list[str]
    weights: str | list[float] = "tune"
    weight_grid: list[float] = field(default_factory=lambda: [round(w, 2) for w in np.linspace(0, 1, 21)])
    cascade: str = "off"
    """`tune` (bounds chosen on valid) or `off` (every comment through every member)."""
    cascade_fast_member: int = 1
    cascade_max_valid_loss: float = 0.01
    cascade_grid: dict[str, list[float]] = field(
        default_factory=lambda: {
            "min_cause_proba": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98],
            "min_troll_margin": [0.1, 0.2, 0.3, 0.4, 0.45],
        }
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BlendConfig":
        config = cls(**known_settings(cls, values, "blend"))
        if not config.members or not all(isinstance(m, str) for m in config.members):
            raise ValueError("blend members must be a list of model config paths")
        if config.weights != "tune" and (
            not isinstance(config.weights, list) or len(config.weights) != len(config.members)
        ):
            raise ValueError("weights must be 'tune' or one number per member")
        if config.weights == "tune" and len(config.members) != 2:
            raise ValueError("weights: tune needs exactly two members (give a list for more)")
        if config.cascade not in ("tune", "off"):
            raise ValueError(f"cascade must be 'tune' or 'off', not {config.cascade!r}")
        if not 0 <= config.cascade_fast_member < len(config.members):
            raise ValueError(f"cascade_fast_member {config.cascade_fast_member} is not a member index")
        return config


def _best_weight(grid: list[float], score) -> tuple[float, dict[str, float]]:
    scores = {w: score(w) for w in grid}
    best = max(scores.values())
    weight = min((w for w, s in scores.items() if s == best), key=lambda w: abs(w - 0.5))
    return weight, {f"{w:.2f}": round(s, 4) for w, s in scores.items()}


def cause_macro_f1(truth: np.ndarray, proba: np.ndarray) -> float:
    """Cause macro-F1 of the most probable cause: what the blend's weights are chosen by."""
    return float(f1_score(truth, np.asarray(CAUSES)[proba.argmax(1)], average="macro"))


def best_troll_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    """Troll F1 at its best threshold: troll scores are compared before a threshold is set."""
    from triage.train.fit import best_f1_threshold

    return float(f1_score(labels, scores >= best_f1_threshold(labels, scores)))


class BlendFitter:
    kind = KIND

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "BlendFitter":
        return cls(BlendConfig.from_dict(params))

    def __init__(self, config: BlendConfig):
        self.config = config

    def fit(self, texts, causes, trolls, valid_texts, valid_causes, valid_trolls) -> BlendClassifier:
        from triage.train.fit import ModelConfig
        from triage.train.kinds import build_trainer

        members, infos = [], []
        for path in map(Path, self.config.members):
            config = ModelConfig.read(path)
            if config.kind == KIND:
                raise ValueError(f"{path}: a blend member cannot be a blend")
            member = build_trainer(config.kind, config.params, path).fit(
                texts, causes, trolls, valid_texts, valid_causes, valid_trolls
            )
            if member is None:
                raise ValueError("blends are trained in one process (no data-parallel run)")
            members.append(member)
            infos.append({"config": str(path), "kind": member.kind, **getattr(member, "training_info", {})})
        cause_truth, troll_truth = np.asarray(valid_causes), np.asarray(valid_trolls, int)
        outputs = None
        if self.config.weights == "tune" or self.config.cascade == "tune":
            outputs = [m.predict_proba(valid_texts) for m in members]
        if self.config.weights == "tune":

            def cause_score(w: float) -> float:
                return cause_macro_f1(cause_truth, w * outputs[0][0] + (1 - w) * outputs[1][0])

            def troll_score(w: float) -> float:
                return best_troll_f1(troll_truth, w * outputs[0][1] + (1 - w) * outputs[1][1])

            cause_w, cause_curve = _best_weight(self.config.weight_grid, cause_score)
            troll_w, troll_curve = _best_weight(self.config.weight_grid, troll_score)
            cause_weights, troll_weights = [cause_w, 1 - cause_w], [troll_w, 1 - troll_w]
            tuning = {"valid_cause_macro_f1_by_weight": cause_curve, "valid_troll_f1_by_weight": troll_curve}
        else:
            cause_weights = troll_weights = list(self.config.weights)
            tuning = {}
        blend = BlendClassifier(members, cause_weights, troll_weights)
        if self.config.cascade == "tune":
            blend.cascade, tuning["cascade_valid_curve"] = self._cascade(
                blend, outputs, cause_truth, troll_truth
            )
        blend.training_info = {
            "members": infos,
            "cause_weights": blend.cause_weights,
            "troll_weights": blend.troll_weights,
            "cascade": blend.cascade,
            **tuning,
        }
        return blend

    def _cascade(self, blend: BlendClassifier, outputs, cause_truth, troll_truth) -> tuple[dict | None, list]:
        """The valid curve of the cascade's bounds and the chosen point (None: no cascade)."""
        fast = self.config.cascade_fast_member
        full_cause, full_troll = blend.combine(outputs)

        def f1s(cause: np.ndarray, troll: np.ndarray) -> tuple[float, float]:
            return cause_macro_f1(cause_truth, cause), best_troll_f1(troll_truth, troll)

        reference = f1s(full_cause, full_troll)
        curve, best = [], None
        grid = self.config.cascade_grid
        for min_cause in grid["min_cause_proba"]:
            for margin in grid["min_troll_margin"]:
                rule = {"fast_member": fast, "min_cause_proba": min_cause, "min_troll_margin": margin}
                sure = blend.confident(*outputs[fast], rule)
                cause = np.where(sure[:, None], outputs[fast][0], full_cause)
                scores = f1s(cause, np.where(sure, outputs[fast][1], full_troll))
                point = {**rule, "routed_share": round(1 - float(sure.mean()), 4)}
                point |= {"cause_macro_f1": round(scores[0], 4), "troll_f1": round(scores[1], 4)}
                curve.append(point)
                within = all(
                    r - v <= self.config.cascade_max_valid_loss
                    for r, v in zip(reference, scores, strict=True)
                )
                key = (point["routed_share"], -sum(scores))
                if within and (best is None or key < best[0]):
                    best = (key, rule)
        curve.append(
            {
                "full_blend": True,
                "routed_share": 1.0,
                "cause_macro_f1": round(reference[0], 4),
                "troll_f1": round(reference[1], 4),
            }
        )
        return (best[1] if best else None), curve
