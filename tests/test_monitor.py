"""`triage monitor`: a cause that doubles on a known day is flagged that day; flat noise never is."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from triage.cli import app
from triage.models.labels import CAUSES
from triage.monitor.counts import load_counts
from triage.monitor.detect import MonitorSettings, _window, detect
from typer.testing import CliRunner

runner = CliRunner()
LANGS = ("ru", "uk", "bg", "en")
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
RISE_DAY = 41


def scored_stream(seed: int, rise: str | None = None, overdispersed: bool = False) -> pd.DataFrame:
    """Scored comments: every cause at 12/day per language and 10 trolls, with Poisson noise
    (or gamma-Poisson day effects when `overdispersed`); `rise` doubles from RISE_DAY on."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(DAYS):
        for lang in LANGS:
            for kind in (*CAUSES, "troll"):
                rate = 10.0 if kind == "troll" else 12.0
                if kind == rise and day >= RISE_DAY:
                    rate *= 2
                if overdispersed:
                    rate *= rng.gamma(20.0, 1 / 20.0)  # ±22% day-to-day swings
                for _ in range(rng.poisson(rate)):
                    at = START + timedelta(days=day, seconds=int(rng.integers(86400)))
                    troll = kind == "troll"
                    cause = str(rng.choice(CAUSES)) if troll else kind
                    rows.append({"time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "lang": lang, "cause": cause,
                                 "troll": troll, "text": "…"})  # fmt: skip
    return pd.DataFrame(rows)


def run_detection(frame: pd.DataFrame, tmp_path, **settings):
    path = tmp_path / "scored.parquet"
    frame.to_parquet(path)
    counts, total = load_counts(path, settings.get("bucket", "day"))
    assert total == len(frame)
    return counts, detect(counts, MonitorSettings(**settings))


def test_counts_split_causes_and_trolls_per_language_and_in_total(tmp_path):
    frame = scored_stream(0)
    counts, _ = run_detection(frame, tmp_path)
    assert len(counts) == DAYS and counts.index[0] == pd.Timestamp(START)
    day0 = frame[frame["time"].str.startswith("2026-09-01")]
    assert (
        counts.iloc[0][("price", "ru")]
        == ((day0["cause"] == "price") & ~day0["troll"] & (day0["lang"] == "ru")).sum()
    )
    assert counts.iloc[0][("troll", "all")] == day0["troll"].sum()
    for kind in (*CAUSES, "troll"):
        assert (counts[(kind, "all")] == sum(counts[(kind, lang)] for lang in LANGS)).all()


@pytest.mark.parametrize("rise", ["price", "troll"])
def test_a_doubling_is_flagged_on_its_first_day_and_nothing_else_is(rise, tmp_path):
    _, detection = run_detection(scored_stream(1, rise=rise), tmp_path)
    flags = detection.flags
    rise_day = pd.Timestamp(START + timedelta(days=RISE_DAY))
    assert set(flags["kind"]) == {rise}, flags
    assert flags["bucket"].min() == rise_day
    first = flags[(flags["bucket"] == rise_day) & (flags["lang"] == "all")]
    assert len(first) == 1 and first["ratio"].iloc[0] > 1.6 and first["p_adjusted"].iloc[0] <= 0.01


@pytest.mark.parametrize(
    ("seed", "overdispersed"), [(2, False), (3, False), (4, False), (5, True), (6, True)]
)
def test_flat_streams_with_ordinary_noise_raise_no_flag(seed, overdispersed, tmp_path):
    _, detection = run_detection(scored_stream(seed, overdispersed=overdispersed), tmp_path)
    assert detection.tests > 2000  # 8 kinds × 5 language scopes × 53 days with history
    assert detection.flags.empty, detection.flags


def test_hourly_baseline_compares_the_same_hour_of_previous_days():
    values = np.arange(100)
    assert sorted(_window(values, 75, 24, 14).tolist()) == [3, 27, 51]
    assert sorted(_window(values, 10, 1, 4).tolist()) == [6, 7, 8, 9]


def test_cli_writes_json_and_a_self_contained_html_page(tmp_path):
    frame = scored_stream(7, rise="defect")
    scored = tmp_path / "scored.jsonl"
    frame.to_json(scored, orient="records", lines=True, force_ascii=False)
    out_json, out_html = tmp_path / "monitor.json", tmp_path / "monitor.html"
    result = runner.invoke(app, ["monitor", str(scored), "--json", str(out_json), "--html", str(out_html)])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    assert report["comments"] == len(frame) and len(report["buckets"]) == DAYS
    assert (
        "Benjamini-Hochberg" in report["method"]["correction"]
        and "negative binomial" in report["method"]["test"]
    )
    first = min(report["flags"], key=lambda f: f["bucket"])
    assert first["bucket"] == (START + timedelta(days=RISE_DAY)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {f["cause"] for f in report["flags"]} == {"defect"}
    series = {(s["cause"], s["lang"]): s for s in report["series"]}
    assert len(series[("defect", "all")]["counts"]) == DAYS and series[(None, "all")]["kind"] == "troll"
    page = out_html.read_text()
    assert page.count("<svg") == len(CAUSES) + 1
    assert "src=" not in page and "<link" not in page and 'href="http' not in page
    assert "defect" in page and "No rise flagged" not in page


def test_cli_names_a_missing_time_column(tmp_path):
    scored = tmp_path / "scored.csv"
    pd.DataFrame({"lang": ["en"], "cause": ["price"], "troll": [False]}).to_csv(scored, index=False)
    result = runner.invoke(app, ["monitor", str(scored), "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 1 and "missing column(s) ['time']" in result.stderr


def test_cli_counts_comments_waiting_past_respond_by(tmp_path):
    frame = pd.DataFrame(
        {
            "time": ["2026-11-24T09:00:00Z"] * 4,
            "lang": ["en", "uk", "ru", "bg"],
            "cause": ["defect", "price", "none", "none"],
            "troll": [False, False, False, True],
            "priority": ["urgent", "high", "normal", "low"],
            "respond_by": ["2026-11-24T09:30:00Z", "2026-11-24T10:00:00Z", "2026-11-24T13:00:00Z", None],
            "answered_at": [None, "2026-11-24T09:50:00Z", None, None],
        }
    )
    scored = tmp_path / "scored.jsonl"
    frame.to_json(scored, orient="records", lines=True)
    out_json = tmp_path / "m.json"
    args = ["monitor", str(scored), "--json", str(out_json), "--html", str(tmp_path / "m.html")]
    result = runner.invoke(app, [*args, "--as-of", "2026-11-24T11:00:00Z"])
    assert result.exit_code == 0, result.output
    queue = json.loads(out_json.read_text())["queue"]
    # urgent is late and unanswered; high was answered; normal is not due yet; the troll has no deadline
    assert queue == {
        "as_of": "2026-11-24T11:00:00Z",
        "with_respond_by": 3,
        "overdue": 1,
        "overdue_by_priority": {"urgent": 1},
    }
    assert "1 of 3 comments wait past respond_by" in result.output
    later = runner.invoke(app, [*args, "--as-of", "2026-11-25T00:00:00Z"])
    assert json.loads(out_json.read_text())["queue"]["overdue"] == 2, later.output
    bad = runner.invoke(app, [*args, "--as-of", "yesterday"])
    assert bad.exit_code == 1 and "--as-of" in bad.stderr


def test_scored_files_without_respond_by_have_no_queue_section(tmp_path):
    frame = scored_stream(3)
    scored = tmp_path / "scored.jsonl"
    frame.to_json(scored, orient="records", lines=True)
    out_json = tmp_path / "m.json"
    args = ["monitor", str(scored), "--json", str(out_json), "--html", str(tmp_path / "h.html")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and json.loads(out_json.read_text())["queue"] is None
