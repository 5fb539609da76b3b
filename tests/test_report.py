"""The analysts' HTML report: content, escaping, and how it looks in a real headless Chromium."""

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from triage.models.labels import CAUSES
from triage.train.evaluate import evaluate
from triage.train.metrics import compute_metrics
from triage.train.report import data_version, frequent_confusions, write_report

from tests.browser import check_page
from tests.conftest import PROJECT

MATRICES = {f"{task}_{scope}" for task in ("cause", "troll") for scope in ("all", "ru", "uk", "bg", "en")}


def _scored(rows: list[tuple[str, str, str, str, bool, bool, float]]) -> pd.DataFrame:
    """(text, lang, cause, pred_cause, troll, pred_troll, troll_score) rows as a scored frame."""
    frame = pd.DataFrame(
        rows, columns=["text", "lang", "cause", "pred_cause", "troll", "pred_troll", "troll_score"]
    )
    frame["pred_lang"] = frame.lang
    frame["cause_proba"] = [
        np.eye(len(CAUSES))[CAUSES.index(c)] * 0.9 + 0.1 / len(CAUSES) for c in frame.pred_cause
    ]
    return frame


def test_frequent_confusions_count_rank_and_pick_the_surest_examples():
    frame = _scored(
        [("a", "ru", "defect", "none", False, False, 0.1)] * 3
        + [("b", "uk", "defect", "none", False, False, 0.1)]
        + [("c", "en", "price", "defect", False, False, 0.2)]
        + [("d", "bg", "none", "none", True, False, 0.30), ("e", "bg", "none", "none", True, False, 0.05)]
        + [("f", "en", "price", "price", False, False, 0.1)]
    )
    found = frequent_confusions(frame, top=10)
    first = found[0]
    assert (first["task"], first["actual"], first["predicted"], first["count"]) == (
        "cause",
        "defect",
        "none",
        4,
    )
    assert first["share"] == 1.0
    assert first["by_lang"] == {"ru": 3, "uk": 1, "bg": 0, "en": 0}
    missed = next(c for c in found if c["task"] == "troll")
    assert (missed["actual"], missed["predicted"], missed["count"]) == ("troll", "not troll", 2)
    # The surest miss is the lowest troll score.
    assert [e["text"] for e in missed["examples"]] == ["e", "d"]
    assert ("price", "defect") in {(c["actual"], c["predicted"]) for c in found}
    assert all(c["actual"] != c["predicted"] for c in found)


def test_report_escapes_comment_text_and_links_nothing_external(tmp_path):
    evil = '<script>alert(1)</script><img src="http://evil.example/x.png">'
    frame = _scored(
        [(evil, "en", "defect", "none", False, False, 0.1), ("ok", "en", "none", "none", True, True, 0.9)]
    )
    report = {
        "model": {"name": "m", "version": "7", "kind": "k"},
        "data": {"files": []},
        "troll_threshold": 0.5,
    }
    page = write_report(frame, {**report, **compute_metrics(frame)}, tmp_path).read_text()
    assert "<script" not in page and 'src="http' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_data_version_comes_from_dvc_lock(tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text('{"text": "x"}\n')
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: triage prepare\n    deps:\n    - path: data/raw\n"
        "      md5: abc.dir\n    outs:\n    - path: data/processed\n      md5: def.dir\n"
    )
    version = data_version([data], lock)
    assert version["data/raw"] == "abc.dir" and version["data/processed"] == "def.dir"
    assert version["files"][0]["md5"] == hashlib.md5(b'{"text": "x"}\n').hexdigest()
    assert "data/raw" not in data_version([data], tmp_path / "missing.lock")


@pytest.fixture(scope="module")
def fresh_report(fitted_model, sample_splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report = evaluate(fitted_model, sample_splits["test"], out, {"sha256": "0" * 64}, {"files": []})
    return out / "index.html", report


def _assert_shown(check) -> None:
    assert check.console_errors == []
    assert check.failed_requests == []
    assert check.broken_images == []
    names = {i["name"] for i in check.images}
    assert names >= MATRICES, f"matrix images missing: {MATRICES - names}"
    assert "troll_pr" in names


@pytest.mark.slow
def test_fresh_report_shows_every_matrix_in_chromium(fresh_report, tmp_path):
    page, report = fresh_report
    html = page.read_text()
    assert f"{report['all']['cause']['macro_f1']:.3f}" in html
    for scope in ("ru", "uk", "bg", "en"):
        assert f'data-matrix="cause_{scope}"' in html
    _assert_shown(check_page(page, tmp_path / "profile"))


@pytest.mark.slow
def test_browser_check_fails_on_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img data-matrix="cause_all" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>"
    )
    check = check_page(page, tmp_path / "profile")
    assert [i["name"] for i in check.broken_images] == ["cause_all"]
    assert any("boom" in e for e in check.console_errors)


@pytest.mark.slow
def test_committed_report_is_current_and_shows_in_chromium(tmp_path):
    """The page analysts open, `reports/index.html`; its screenshot is kept beside it."""
    page = PROJECT / "reports" / "index.html"
    metrics = json.loads((PROJECT / "reports" / "metrics.json").read_text())
    html = page.read_text()
    assert page.stat().st_size < 2_000_000
    assert f"version {metrics['model']['version']}: evaluation on test split" in html
    assert f"{metrics['all']['cause']['macro_f1']:.3f}" in html
    check = check_page(page, tmp_path / "profile", PROJECT / "reports" / "index.png")
    _assert_shown(check)
