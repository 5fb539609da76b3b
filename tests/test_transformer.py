"""The transformer kind end to end on a corpus sample: DVC experiment, artifact, predictor,
MLflow pyfunc, ONNX vs PyTorch, and a 2-process data-parallel run (gloo on CPU)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT, copy_pipeline, pipeline_env, write_jsonl

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow
TEST_CONFIG = "configs/transformer-test.yaml"


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def write_test_config(path: Path, epochs: int = 6) -> Path:
    """configs/transformer-tiny.yaml made smaller still, so the test costs seconds per epoch."""
    config = yaml.safe_load((PROJECT / "configs" / "transformer-tiny.yaml").read_text())
    config["params"].update(
        tiny={"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 128},
        vocab_size=2000,
        max_length=48,
        batch_size=16,
        learning_rate=0.002,
        num_train_epochs=epochs,
        threads=2,
    )
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, sample_examples, tiny_checkpoint):
    """Baseline `dvc repro`, commit, then `dvc exp run -S` switching to the transformer."""
    root = tmp_path_factory.mktemp("transformer")
    copy_pipeline(root, tiny_checkpoint)
    write_test_config(root / TEST_CONFIG)
    (root / "data" / "raw").mkdir(parents=True)
    write_jsonl(root / "data" / "raw" / "sample.jsonl", [e.to_record() for e in sample_examples])
    env = pipeline_env(root)
    dvc = str(BIN / "dvc")
    run(["git", "init", "-q"], root, env)
    run([dvc, "init", "-q"], root, env)
    run([dvc, "repro"], root, env, timeout=900)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "baseline"], root, env)
    run([dvc, "exp", "run", "-S", f"train.model_config={TEST_CONFIG}"], root, env, timeout=900)
    return root, env


def test_exp_run_switches_to_transformer_and_metrics_diff_compares(experiment):
    root, env = experiment
    manifest = json.loads((root / "artifacts" / "model" / "manifest.json").read_text())
    assert manifest["kind"] == "transformer"
    for name in ("model.onnx", "heads.safetensors", "encoder/config.json", "tokenizer/tokenizer.json"):
        assert name in manifest["files"] and (root / "artifacts" / "model" / name).is_file()
    assert not any(name.endswith((".pt", ".bin")) for name in manifest["files"])
    assert manifest["training"]["epochs_run"] >= 1
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    # Seven causes: a uniform guess has macro-F1 ≈ 0.14, a constant one ≈ 0.04; six epochs of a
    # 1-layer model from scratch on ~1,000 rows reach about 0.4 (it is no quality target).
    assert metrics["all"]["cause"]["macro_f1"] > 0.25
    diff = run([str(BIN / "dvc"), "metrics", "diff", "--json"], root, env)
    changed = json.loads(diff.stdout)["reports/metrics.json"]
    old, new = changed["all.cause.macro_f1"]["old"], changed["all.cause.macro_f1"]["new"]
    assert old is not None and new is not None and old != new


def test_predictor_and_mlflow_pyfunc_load_the_transformer(experiment):
    import mlflow
    import mlflow.artifacts
    import mlflow.pyfunc
    from triage.serve.predictor import Predictor

    root, env = experiment
    model_dir = root / "artifacts" / "model"
    texts = ["Кнопка оплаты не работает", "The courier was rude to me", "Ціна завелика"]
    predictions = Predictor.load(model_dir).predict(texts)
    assert [p.model.name for p in predictions] == ["triage"] * 3
    for p in predictions:
        assert abs(sum(p.cause_scores.values()) - 1) < 1e-6 and 0 <= p.troll_score <= 1
    manifest = json.loads((model_dir / "manifest.json").read_text())
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{manifest['mlflow']['run_id']}/model")
    frame = pyfunc.predict(pd.DataFrame({"text": texts}))
    assert frame["cause"].tolist() == [p.cause for p in predictions]
    np.testing.assert_allclose(frame["troll_score"], [p.troll_score for p in predictions], atol=1e-6)
    requirements = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{manifest['mlflow']['run_id']}/model/requirements.txt")
    ).read_text()
    assert "onnxruntime==" in requirements and "tokenizers==" in requirements


def test_onnx_serving_imports_no_torch(experiment):
    root, env = experiment
    code = (
        "import sys\n"
        "from triage.serve.predictor import Predictor\n"
        "p = Predictor.load(sys.argv[1]).predict(['Ціна завелика'])[0]\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(p.cause)\n"
    )
    result = run([sys.executable, "-c", code, str(root / "artifacts" / "model")], root, env)
    assert (
        result.stdout.strip()
        in json.loads((root / "artifacts" / "model" / "manifest.json").read_text())["labels"]["cause"]
    )


def test_onnx_and_pytorch_probabilities_agree(experiment, sample_splits, tmp_path):
    from transformers import PreTrainedTokenizerFast
    from triage.models.artifact import file_sha256, load_model
    from triage.models.encoder import MultiTaskEncoder
    from triage.train.onnx_export import export_onnx

    root, _ = experiment
    model_dir = root / "artifacts" / "model"
    texts = sample_splits["test"].text.tolist()[:64]
    model = load_model(model_dir)
    onnx_cause, onnx_troll = model.classifier.use_backend("onnx").predict_proba(texts)
    torch_cause, torch_troll = model.classifier.use_backend("torch").predict_proba(texts)
    np.testing.assert_allclose(onnx_cause, torch_cause, atol=1e-4)
    np.testing.assert_allclose(onnx_troll, torch_troll, atol=1e-4)

    # int8 dynamic quantisation: same artifact with a quantised model.onnx.
    quantized_dir = tmp_path / "quantized"
    shutil.copytree(model_dir, quantized_dir)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer" / "tokenizer.json"))
    tokenizer.pad_token = model.classifier.settings["pad_token"]
    export_onnx(MultiTaskEncoder.load(model_dir, 7), tokenizer, quantized_dir, quantize=True)
    assert (quantized_dir / "model.onnx").stat().st_size < (model_dir / "model.onnx").stat().st_size
    manifest = json.loads((quantized_dir / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = file_sha256(quantized_dir / "model.onnx")  # re-exported: new digest
    (quantized_dir / "manifest.json").write_text(json.dumps(manifest))
    quantized = load_model(quantized_dir).classifier.use_backend("onnx")
    q_cause, q_troll = quantized.predict_proba(texts)
    np.testing.assert_allclose(q_cause, torch_cause, atol=5e-2)
    np.testing.assert_allclose(q_troll, torch_troll, atol=5e-2)


def test_int8_keeps_the_feed_forward_down_projections_in_float(experiment, tmp_path):
    import onnx
    from triage.train.onnx_export import int8_matmuls, quantize_onnx

    root, _ = experiment
    source = root / "artifacts" / "model" / "model.onnx"
    graph = onnx.load(str(source)).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    weights = {n.name: shapes.get(n.input[1]) for n in graph.node if n.op_type == "MatMul"}
    narrowing = {name for name, shape in weights.items() if shape and shape[0] > shape[1]}
    widening = {name for name, shape in weights.items() if shape and shape[0] < shape[1]}
    assert narrowing and widening  # every layer has a feed-forward up- and down-projection
    assert set(int8_matmuls(source)) == set(weights) - narrowing
    quantized = onnx.load(str(quantize_onnx(source, tmp_path / "int8.onnx"))).graph
    still_float = {n.name for n in quantized.node if n.op_type == "MatMul"}
    assert narrowing <= still_float and not widening & still_float
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in quantized.node)


@pytest.mark.parametrize(("min_agreement", "kept"), [(0.0, True), (1.01, False)])
def test_int8_is_kept_only_where_decisions_agree_with_fp32(
    experiment, sample_splits, tmp_path, min_agreement, kept
):
    from triage.models.artifact import load_model
    from triage.train.transformer_fit import try_int8

    root, _ = experiment
    folder = tmp_path / "model"
    shutil.copytree(root / "artifacts" / "model", folder)
    fp32_size = (folder / "model.onnx").stat().st_size
    classifier = load_model(folder).classifier
    report = try_int8(classifier, sample_splits["valid"].text.tolist(), min_agreement)
    assert report["kept"] is kept and 0.5 <= report["valid_decision_agreement"] <= 1.0
    assert ((folder / "model.onnx").stat().st_size < fp32_size) is kept
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["model.onnx"]
    cause, _ = classifier.predict_proba(["the courier never came"])
    assert np.isclose(cause.sum(), 1.0)


def test_missing_weight_file_is_a_clear_load_error(experiment, tmp_path):
    from triage.models.artifact import ModelLoadError, load_model

    root, _ = experiment
    broken = tmp_path / "broken"
    shutil.copytree(root / "artifacts" / "model", broken)
    (broken / "heads.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"heads\.safetensors"):
        load_model(broken)


def test_two_process_data_parallel_training(tmp_path, sample_splits):
    """`torchrun` with 2 CPU processes (gloo): both train, rank 0 writes the artifact."""
    processed = tmp_path / "data" / "processed"
    processed.mkdir(parents=True)
    for split in ("train", "valid"):
        rows = (
            sample_splits[split].sample(frac=0.5, random_state=0)
            if split == "train"
            else sample_splits[split]
        )
        write_jsonl(processed / f"{split}.jsonl", rows.to_dict("records"))
    config = write_test_config(tmp_path / "tiny.yaml", epochs=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"model_config": config.name}}))
    env = {**pipeline_env(tmp_path), "OMP_NUM_THREADS": "1"}
    cmd = [
        str(BIN / "torchrun"),
        "--standalone",
        "--nproc_per_node=2",
        str(BIN / "triage"),
        "train",
        "--no-track",
    ]
    result = run(cmd, tmp_path, env, timeout=600)
    assert "rank 1 done" in result.stdout
    manifest = json.loads((tmp_path / "artifacts" / "model" / "manifest.json").read_text())
    assert manifest["training"]["world_size"] == 2
    assert manifest["kind"] == "transformer" and "model.onnx" in manifest["files"]


def test_onnx_threads_come_from_the_environment_before_the_model(monkeypatch):
    from triage.models.transformer import THREADS_ENV, onnx_threads

    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert onnx_threads({"threads": 2}) == 2 and onnx_threads({}) is None
    monkeypatch.setenv(THREADS_ENV, "1")
    assert onnx_threads({"threads": 2}) == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            onnx_threads({"threads": 2})
