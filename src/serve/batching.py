"""Coalesce the comments of concurrent HTTP requests into one model call.

Why: a model call has a fixed cost (array set-up, sparse products) that dwarfs the per-comment
cost of one short comment, so under load single-item requests would spend most of their time
on it, one after another. While one batch is being scored in the worker thread, new requests
queue; when it returns, everything queued is scored together. An idle server adds no waiting:
a lone request is scored at once.
"""

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from triage.models.artifact import Scores


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future = field(repr=False)


class ScoringQueue:
    """`await queue.score(texts)` returns the `Scores` of those texts, computed in shared batches."""

    def __init__(self, score: Callable[[Sequence[str]], Scores], max_batch_items: int = 512):
        self._score = score
        self.max_batch_items = max_batch_items
        self._pending: list[_Job] = []
        self._running: asyncio.Task | None = None
        # One scoring thread: batches are already vectorised, and the event loop keeps a core.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-score")

    async def score(self, texts: Sequence[str]) -> Scores:
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(list(texts), future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await future

    def _take_batch(self) -> list[_Job]:
        jobs, items = [], 0
        while self._pending and (not jobs or items + len(self._pending[0].texts) <= self.max_batch_items):
            job = self._pending.pop(0)
            jobs.append(job)
            items += len(job.texts)
        return jobs

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            jobs = self._take_batch()
            texts = [text for job in jobs for text in job.texts]
            try:
                scores = await loop.run_in_executor(self._executor, self._score, texts)
            except Exception as exc:
                if len(jobs) == 1:
                    _settle(jobs[0], exception=exc)
                    continue
                # One request's text broke the batch: score each alone, so only that one fails.
                for job in jobs:
                    try:
                        _settle(job, await loop.run_in_executor(self._executor, self._score, job.texts))
                    except Exception as exc:
                        _settle(job, exception=exc)
                continue
            start = 0
            for job in jobs:
                _settle(job, scores.rows(start, start + len(job.texts)))
                start += len(job.texts)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(job: _Job, result: Scores | None = None, exception: BaseException | None = None) -> None:
    if job.future.done():  # the client went away and the request was cancelled
        return
    if exception is not None:
        job.future.set_exception(exception)
    else:
        job.future.set_result(result)
