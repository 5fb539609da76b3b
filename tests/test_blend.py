"""The blend kind: the fine-tuned network and the TF-IDF model averaged with weights chosen on
valid, saved member by member as plain files and verified on load like any artifact."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from triage.models.artifact import ModelLoadError, load_model, save_model
from triage.models.blend import BlendClassifier
from triage.serve.predictor import Predictor
from triage.train.blend_fit import BlendConfig
from triage.train.config import ConfigError
from triage.train.fit import ModelConfig, fit_model

from tests.conftest import PROJECT
from tests.test_transformer import write_test_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blend_config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("blend-configs")
    linear = yaml.safe_load((PROJECT / "configs" / "linear.yaml").read_text())
    linear["params"]["max_features"] = 50_000
    (folder / "linear.yaml").write_text(yaml.safe_dump(linear))
    network = write_test_config(folder / "tiny.yaml", epochs=1)
    blend = yaml.safe_load((PROJECT / "configs" / "e5-blend.yaml").read_text())
    blend["params"]["members"] = [str(network), str(folder / "linear.yaml")]
    blend["params"]["cascade"] = "tune"
    (folder / "blend.yaml").write_text(yaml.safe_dump(blend))
    return folder / "blend.yaml"


@pytest.fixture(scope="module")
def blend_model(blend_config, sample_splits):
    return fit_model(sample_splits["train"], sample_splits["valid"], ModelConfig.read(blend_config))


@pytest.fixture(scope="module")
def saved(blend_model, tmp_path_factory) -> Path:
    return save_model(blend_model, tmp_path_factory.mktemp("blend") / "model")


def test_weights_are_chosen_on_valid_and_the_output_is_their_average(blend_model, sample_splits):
    blend = blend_model.classifier
    assert blend.kind == "blend" and blend.member_kinds == ["transformer", "tfidf_linear"]
    info = blend.training_info
    curve = info["valid_cause_macro_f1_by_weight"]
    assert len(curve) == 21 and curve[f"{blend.cause_weights[0]:.2f}"] == max(curve.values())
    assert (
        max(info["valid_troll_f1_by_weight"].values())
        == info["valid_troll_f1_by_weight"][f"{blend.troll_weights[0]:.2f}"]
    )
    texts = sample_splits["test"].text.tolist()[:40]
    (c0, t0), (c1, t1) = (m.predict_proba(texts) for m in blend.members)
    w, v = blend.cause_weights[0], blend.troll_weights[0]
    average_cause, average_troll = w * c0 + (1 - w) * c1, v * t0 + (1 - v) * t1
    sure = blend.confident(c1, t1) if blend.cascade else np.zeros(len(texts), bool)
    cause, troll = blend.predict_proba(texts)
    assert np.allclose(cause, np.where(sure[:, None], c1, average_cause))
    assert np.allclose(troll, np.where(sure, t1, average_troll))
    assert np.allclose(cause.sum(1), 1.0, atol=1e-5)


def test_the_saved_blend_lists_member_files_and_loads_back_identically(saved, blend_model, sample_splits):
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["kind"] == "blend"
    folders = {name.split("/")[0] for name in manifest["files"] if "/" in name}
    assert {"member-0-transformer", "member-1-tfidf_linear"} <= folders
    assert not list(saved.rglob("*.joblib")) and not list(saved.rglob("*.pkl"))
    texts = sample_splits["test"].text.tolist()[:20]
    loaded = load_model(saved)
    for ours, theirs in zip(
        loaded.score(texts).__dict__.values(), blend_model.score(texts).__dict__.values(), strict=True
    ):
        assert np.allclose(ours, theirs, atol=1e-5) if isinstance(ours, np.ndarray) else ours == theirs
    prediction = Predictor(loaded).predict(["Посилку не доставили вже тиждень"])[0]
    assert prediction.cause in manifest["labels"]["cause"]


def test_a_changed_member_file_is_refused_in_one_line(saved, tmp_path):
    copy = shutil.copytree(saved, tmp_path / "model")
    target = next(p for p in (copy / "member-1-tfidf_linear").iterdir() if p.suffix == ".json")
    target.write_text(target.read_text().replace("0", "1", 1))
    with pytest.raises(ModelLoadError, match="sha256") as error:
        load_model(copy)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["members"][0].update(folder="../elsewhere"), "not a plain name"),
        (lambda s: s["members"][1].update(kind="blend"), "cannot contain another blend"),
        (lambda s: s.update(cause_weights=[0.9, 0.9]), "sum to 1"),
    ],
)
def test_a_bad_blend_description_is_refused_in_one_line(saved, tmp_path, edit, message):
    copy = shutil.copytree(saved, tmp_path / "model")
    state = json.loads((copy / "blend.json").read_text())
    edit(state)
    (copy / "blend.json").write_text(json.dumps(state))
    manifest = json.loads((copy / "manifest.json").read_text())
    from triage.models.artifact import file_sha256

    manifest["files"]["blend.json"] = file_sha256(copy / "blend.json")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message):
        load_model(copy)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"members": ["a.yaml", "b.yaml"], "typo": 1}, "unknown blend setting"),
        ({"members": ["a.yaml", "b.yaml", "c.yaml"]}, "exactly two members"),
        ({"members": ["a.yaml", "b.yaml"], "weights": [1.0]}, "one number per member"),
    ],
)
def test_bad_blend_settings_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        BlendConfig.from_dict(params)


def test_a_missing_member_config_names_the_file(tmp_path, sample_splits):
    config = tmp_path / "blend.yaml"
    config.write_text(
        yaml.safe_dump({"kind": "blend", "params": {"members": [str(tmp_path / "nope.yaml"), "x"]}})
    )
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        fit_model(sample_splits["train"], sample_splits["valid"], ModelConfig.read(config))


def test_fixed_weights_need_no_tuning():
    blend = BlendClassifier([object(), object()], [0.25, 0.75], [0.5, 0.5])
    assert blend.cause_weights == [0.25, 0.75]
    with pytest.raises(ValueError, match="2 troll weights for 1 members"):
        BlendClassifier([object()], [1.0], [0.5, 0.5])


class _Member:
    """A member whose outputs are fixed per text ("0", "1", ...), recording what it was asked."""

    def __init__(self, kind: str, cause: list[list[float]], troll: list[float]):
        self.kind, self.cause, self.troll, self.asked = kind, np.array(cause), np.array(troll), []

    def predict_proba(self, texts):
        self.asked.append(list(texts))
        rows = [int(t) for t in texts]
        return self.cause[rows], self.troll[rows]


def test_the_cascade_sends_only_unsure_comments_to_the_slow_member():
    slow = _Member(
        "transformer", [[0.1] + [0.15] * 6, [0.4] + [0.1] * 6, [0.7] + [0.05] * 6], [0.2, 0.9, 0.5]
    )
    fast = _Member(
        "tfidf_linear", [[0.94] + [0.01] * 6, [0.5] + [0.5 / 6] * 6, [0.97] + [0.005] * 6], [0.05, 0.1, 0.52]
    )
    rule = {"fast_member": 1, "min_cause_proba": 0.9, "min_troll_margin": 0.3}
    blend = BlendClassifier([slow, fast], [0.5, 0.5], [0.5, 0.5], rule)
    cause, troll = blend.predict_proba(["0", "1", "2"])
    # "0": sure on both heads; "1": unsure cause; "2": troll score too near 0.5
    assert slow.asked == [["1", "2"]]
    assert np.allclose(cause[0], fast.cause[0]) and troll[0] == fast.troll[0]
    assert np.allclose(cause[1:], 0.5 * slow.cause[1:] + 0.5 * fast.cause[1:])
    assert np.allclose(troll[1:], 0.5 * slow.troll[1:] + 0.5 * fast.troll[1:])
    slow.asked.clear()
    blend.predict_proba(["0"])
    assert slow.asked == []


def test_the_cascade_chosen_on_valid_stays_within_the_allowed_loss(blend_model, saved):
    blend = blend_model.classifier
    curve = blend.training_info["cascade_valid_curve"]
    full = curve[-1]
    assert full["full_blend"] and len(curve) == 8 * 5 + 1
    allowed = [
        p
        for p in curve[:-1]
        if full["cause_macro_f1"] - p["cause_macro_f1"] <= 0.01 and full["troll_f1"] - p["troll_f1"] <= 0.01
    ]
    if blend.cascade is None:
        assert not allowed
    else:
        chosen = next(p for p in curve[:-1] if all(p[k] == v for k, v in blend.cascade.items()))
        assert chosen in allowed and chosen["routed_share"] == min(p["routed_share"] for p in allowed)
        assert load_model(saved).classifier.cascade == blend.cascade


@pytest.mark.parametrize(
    ("cascade", "message"),
    [
        ({"fast_member": 2, "min_cause_proba": 0.9, "min_troll_margin": 0.3}, "not a member index"),
        ({"fast_member": 1, "min_cause_proba": 0.9}, "needs exactly"),
        ({"fast_member": 1, "min_cause_proba": 0.9, "min_troll_margin": 0.7}, "out of range"),
    ],
)
def test_a_bad_cascade_is_refused(cascade, message):
    with pytest.raises(ValueError, match=message):
        BlendClassifier([object(), object()], [0.5, 0.5], [0.5, 0.5], cascade)
