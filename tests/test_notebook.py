"""The analysis notebook and the results it reads: run top to bottom against a small pipeline."""

import json
from collections import Counter

import nbformat
import pytest
from nbclient import NotebookClient
from triage.train.evaluate import evaluate
from triage.train.plots import task_names
from triage.train.results import compare, load, read_reports

from tests.conftest import BIN, PROJECT, run

NOTEBOOK = PROJECT / "notebooks" / "01-confusion-matrices.ipynb"


def test_cells_hold_exactly_the_mistakes_counted_in_the_matrices(fitted_model, sample_splits, tmp_path):
    evaluate(fitted_model, sample_splits["test"], tmp_path)
    evaluation = read_reports(tmp_path)
    assert evaluation.scopes == ["all", "ru", "uk", "bg", "en"]
    for task in ("cause", "troll"):
        for scope in evaluation.scopes:
            counts = evaluation.matrix(task, scope)
            shares = evaluation.matrix(task, scope, normalized=True)
            assert shares.sum(axis=1).round(6).isin([0.0, 1.0]).all()
            for actual in task_names(task):
                for predicted in task_names(task):
                    if actual != predicted:
                        rows = evaluation.cell(task, actual, predicted, lang=scope)
                        assert len(rows) == counts.loc[actual, predicted], (task, scope, actual, predicted)
    with pytest.raises(ValueError, match="diagonal"):
        evaluation.cell("cause", "price", "price")
    with pytest.raises(ValueError, match="unknown cause label"):
        evaluation.cell("cause", "pricing", "none")
    assert (compare(evaluation, evaluation)["change"].dropna() == 0).all()


def test_missing_reports_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.json"):
        read_reports(tmp_path)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_a_small_pipeline(pipeline_copy):
    root, env = pipeline_copy
    # A second evaluation to compare the registered champion with: the model on the valid split.
    run([str(BIN / "triage"), "evaluate", "--data", "data/processed/valid.jsonl", "--out", "reports/valid",
         "--no-track"], root, env)  # fmt: skip
    errors = [json.loads(line) for line in (root / "reports" / "errors.jsonl").open()]
    pairs = Counter((e["cause"], e["pred_cause"]) for e in errors if e["cause"] != e["pred_cause"])
    (actual, predicted), count = pairs.most_common(1)[0]

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "strip outputs"
    )
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += (
        f'\nCURRENT = "@champion"\nOTHER = "reports/valid"\nCELL = ({actual!r}, {predicted!r})\n'
    )
    (root / "notebooks").mkdir(exist_ok=True)
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(root / "notebooks")}},
    )
    client.execute(env=env)  # raises CellExecutionError on any failing cell

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2 * 5 + 5, "matrices per language and the comparisons are drawn"
    assert f"{count} comments: true {actual!r}, predicted {predicted!r} (all)" in text
    assert "current: triage v1 | other: triage v" in text
    champion, valid = load("@champion", root), load("reports/valid", root)
    assert (compare(champion, valid)["change"].dropna() != 0).any(), "test and valid split differ"
