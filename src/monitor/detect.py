"""Flag rises in complaint counts that are unlikely under each series' recent normal level.

The test (stated in docs/monitoring.md and in monitor.json):
- Baseline: for bucket t, the counts of the same series in the trailing window of the previous
  `window` buckets (daily buckets), or the same hour of day on the previous `window` days
  (hourly buckets, so night and day are not compared). At least `min_history` of them are needed.
- Null distribution: negative binomial with the window's mean and variance when the window is
  over-dispersed (variance > mean, and the chi-square dispersion test of the window rejects the
  Poisson at 5%), otherwise Poisson with the window's mean; the mean has 0.5
  added to the window's total so an all-zero window does not make any comment significant.
- One-sided p-value P(X >= count). Points below `min_count` comments or below `min_ratio` × the
  baseline are not candidates (p = 1): a rise must matter in size as well as be unlikely.
- Multiple testing: Benjamini-Hochberg over every (series, bucket) pair with enough history in
  the report; a point is flagged when its adjusted p-value is at most `fdr`.
"""

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import false_discovery_control

PERIODS = {"day": 1, "hour": 24}
DISPERSION_ALPHA = 0.05


@dataclass(frozen=True)
class MonitorSettings:
    bucket: str = "day"
    window: int = 28
    min_history: int = 7
    min_count: int = 5
    min_ratio: float = 1.5
    fdr: float = 0.01

    def describe(self) -> dict:
        return {
            **asdict(self),
            "baseline": "the same series in the trailing window of previous buckets"
            + (" at the same hour of day" if self.bucket == "hour" else ""),
            "test": "one-sided P(X >= count) under a negative binomial with the window's mean and "
            "variance if over-dispersed (chi-square dispersion test, 5%), else Poisson with the window's "
            "mean (window total + 0.5)",
            "correction": "Benjamini-Hochberg over all (series, bucket) pairs with enough history",
        }


@dataclass
class Detection:
    baseline: pd.DataFrame  # expected count per bucket × series (NaN without enough history)
    p_values: pd.DataFrame  # raw one-sided p-values (NaN: not tested)
    p_adjusted: pd.DataFrame
    flags: pd.DataFrame  # one row per flagged point
    tests: int


def _window(values: np.ndarray, t: int, period: int, window: int) -> np.ndarray:
    """The previous `window` values `period` buckets apart (1: the previous buckets; 24: same hour)."""
    steps = t - period * np.arange(1, window + 1)
    return values[steps[steps >= 0]]


def p_value(count: int, history: np.ndarray) -> tuple[float, float, str]:
    """The one-sided p-value of `count` against `history`, the baseline mean and the distribution."""
    mean = (history.sum() + 0.5) / len(history)
    variance = history.var(ddof=1) if len(history) > 1 else 0.0
    if variance > mean and _overdispersed(history, mean, variance):
        n = mean**2 / (variance - mean)
        return float(stats.nbinom.sf(count - 1, n, mean / variance)), mean, "negative binomial"
    return float(stats.poisson.sf(count - 1, mean)), mean, "poisson"


def _overdispersed(history: np.ndarray, mean: float, variance: float) -> bool:
    """Poisson dispersion test: (n-1)·variance/mean ~ chi-square(n-1) when counts are Poisson.
    A window only slightly over-dispersed by chance keeps the (more powerful) Poisson test."""
    dof = len(history) - 1
    return bool(stats.chi2.sf(dof * variance / mean, dof) < DISPERSION_ALPHA)


def detect(counts: pd.DataFrame, settings: MonitorSettings) -> Detection:
    period = PERIODS[settings.bucket]
    baseline = pd.DataFrame(np.nan, index=counts.index, columns=counts.columns)
    p_values = baseline.copy()
    distributions: dict[tuple, str] = {}
    for column in counts.columns:
        values = counts[column].to_numpy()
        for t in range(len(values)):
            history = _window(values, t, period, settings.window)
            if len(history) < settings.min_history:
                continue
            count = int(values[t])
            p, mean, distribution = p_value(count, history)
            baseline.iloc[t, baseline.columns.get_loc(column)] = mean
            candidate = count >= settings.min_count and count >= settings.min_ratio * mean
            p_values.iloc[t, p_values.columns.get_loc(column)] = p if candidate else 1.0
            distributions[(t, column)] = distribution
    tested = p_values.stack(["kind", "lang"], future_stack=True).dropna()
    adjusted = (
        pd.Series(false_discovery_control(tested.to_numpy()), index=tested.index) if len(tested) else tested
    )
    p_adjusted = adjusted.unstack(["kind", "lang"]).reindex(index=counts.index, columns=counts.columns)
    rows = []
    for (bucket, kind, lang), q in adjusted[adjusted <= settings.fdr].items():
        t = counts.index.get_loc(bucket)
        count = int(counts.iloc[t][(kind, lang)])
        mean = float(baseline.iloc[t][(kind, lang)])
        rows.append(
            {
                "bucket": bucket,
                "kind": kind,
                "lang": lang,
                "count": count,
                "baseline": round(mean, 2),
                "ratio": round(count / mean, 2),
                "p_value": float(p_values.iloc[t][(kind, lang)]),
                "p_adjusted": float(q),
                "distribution": distributions[(t, (kind, lang))],
            }
        )
    flags = pd.DataFrame(rows, columns=["bucket", "kind", "lang", "count", "baseline", "ratio", "p_value",
                                        "p_adjusted", "distribution"])  # fmt: skip
    return Detection(
        baseline, p_values, p_adjusted, flags.sort_values(["bucket", "kind", "lang"]), len(tested)
    )
