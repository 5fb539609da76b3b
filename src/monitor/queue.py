"""How many scored comments wait past their `respond_by` (from `triage batch --time-column`).

A comment waits when it has a `respond_by` earlier than the as-of time and no `answered_at`
(a column a team may add when it answers). Read batch by batch, like the counts."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from triage.monitor.counts import _dataset

RESPOND_BY = "respond_by"
ANSWERED = "answered_at"


def overdue(path: Path, as_of: datetime | None = None) -> dict[str, Any] | None:
    """Counts of comments with a deadline and of those waiting past it, per priority; None when the
    scored file has no `respond_by` column (scored without a time column, or by the Spark engine)."""
    dataset = _dataset(path)
    names = dataset.schema.names
    if RESPOND_BY not in names:
        return None
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    columns = [c for c in (RESPOND_BY, "priority", ANSWERED) if c in names]
    with_deadline = waiting = 0
    per_priority: dict[str, int] = {}
    for batch in dataset.to_batches(columns=columns):
        frame = batch.to_pandas()
        due = pd.to_datetime(frame[RESPOND_BY], utc=True, errors="coerce", format="ISO8601")
        late = due.notna() & (due < pd.Timestamp(as_of))
        if ANSWERED in frame:
            late &= frame[ANSWERED].isna() | (frame[ANSWERED].astype(str) == "")
        with_deadline += int(due.notna().sum())
        waiting += int(late.sum())
        if "priority" in frame:
            for level, count in frame.loc[late, "priority"].astype(str).value_counts().items():
                per_priority[level] = per_priority.get(level, 0) + int(count)
    return {
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "with_respond_by": with_deadline,
        "overdue": waiting,
        "overdue_by_priority": per_priority,
    }
