"""What `triage serve --workers N` needs beyond uvicorn: shared metrics and in-place reloads.

Metrics: each worker is its own process, so a counter kept in memory would count only what
the worker that answers the scrape saw. prometheus_client's multiprocess mode keeps every
worker's values in files under `PROMETHEUS_MULTIPROC_DIR`, and `/metrics` sums them. The
variable must be set before a worker imports prometheus_client, so the main process sets it
(a private temporary folder, removed at exit, unless the operator chose one) and empties it at
start, so values of an earlier run are never added in.

SIGHUP: uvicorn's supervisor answers it by replacing every worker with a new process. Here it
is forwarded to the workers instead, so each one checks its model source and swaps a new model
in place, with the same verification and failure handling as polling (`triage.serve.rollout`).
"""

import atexit
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from triage.serve.observability import MULTIPROC_ENV
from uvicorn.supervisors import Multiprocess


def prepare_metrics_dir(workers: int) -> Path | None:
    """Set up `PROMETHEUS_MULTIPROC_DIR` for the workers (None with one worker and none set)."""
    chosen = os.environ.get(MULTIPROC_ENV)
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder
    if workers == 1:
        return None
    folder = Path(tempfile.mkdtemp(prefix="triage-metrics-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


class ReloadingMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, with SIGHUP forwarded to the workers (see the module)."""

    def handle_hup(self) -> None:
        logging.getLogger("uvicorn.error").info("Received SIGHUP, asking the workers to check their model.")
        for process in self.processes:
            if process.pid is not None and process.process.is_alive():
                os.kill(process.pid, signal.SIGHUP)
