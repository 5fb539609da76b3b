"""Coalesce the comments of concurrent HTTP requests into one model call, fairly.

Why: a model call has a fixed cost (array set-up, sparse products) that dwarfs the per-comment
cost of one short comment, so under load single-item requests would spend most of their time
on it, one after another. While one batch is being scored in the worker thread, new requests
queue; when it returns, the queued requests are scored together. An idle server adds no
waiting: a lone request is scored at once.

Fairness: a batch takes at most `slice_items` comments from each waiting request in turn,
the oldest request first and then those served least, so a one-comment request waits for at
most the batch in progress, never behind every comment of a few maximum-size requests queued
before it (8 × 256 items once held one item 4.5 s).
"""

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from triage.models.artifact import Scores


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future = field(repr=False)
    done: int = 0
    parts: list[Scores] = field(default_factory=list)


def concat_scores(parts: list[Scores]) -> Scores:
    """The scores of consecutive slices of one request, as one `Scores`."""
    if len(parts) == 1:
        return parts[0]
    return Scores(
        [lang for part in parts for lang in part.langs],
        np.concatenate([part.lang_scores for part in parts]),
        np.concatenate([part.cause_proba for part in parts]),
        np.concatenate([part.troll_proba for part in parts]),
        parts[0].troll_threshold,
    )


class ScoringQueue:
    """`await queue.score(texts)` returns the `Scores` of those texts, computed in shared batches."""

    def __init__(
        self,
        score: Callable[[Sequence[str]], Scores],
        max_batch_items: int = 256,
        slice_items: int = 64,
    ):
        self._score = score
        self.max_batch_items = max_batch_items
        self.slice_items = max(1, min(slice_items, max_batch_items))
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

    def _take_batch(self) -> list[tuple[_Job, int, int]]:
        """Slices (job, start, stop) up to the item limit: the oldest request first (so every
        request progresses), then those served least so far, shortest remainder first."""
        self._pending = [job for job in self._pending if not job.future.done()]  # cancelled clients
        if not self._pending:
            return []
        oldest, *rest = self._pending
        order = [oldest, *sorted(rest, key=lambda job: (job.done, len(job.texts) - job.done))]
        batch: list[tuple[_Job, int, int]] = []
        offsets = {id(job): job.done for job in order}
        items, added = 0, True
        while items < self.max_batch_items and added:
            added = False
            for job in order:
                start = offsets[id(job)]
                stop = min(len(job.texts), start + self.slice_items, start + self.max_batch_items - items)
                if stop > start:
                    batch.append((job, start, stop))
                    offsets[id(job)], items, added = stop, items + stop - start, True
                if items >= self.max_batch_items:
                    break
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._take_batch()
            if not batch:
                continue
            texts = [text for job, start, stop in batch for text in job.texts[start:stop]]
            try:
                scores = await loop.run_in_executor(self._executor, self._score, texts)
            except Exception as exc:
                if len({id(job) for job, _, _ in batch}) == 1:
                    self._fail(batch[0][0], exc)
                    continue
                # One request's text broke the batch: score each slice alone, so only that one fails.
                for job, start, stop in batch:
                    if job.future.done():
                        continue
                    try:
                        part = await loop.run_in_executor(self._executor, self._score, job.texts[start:stop])
                    except Exception as exc:
                        self._fail(job, exc)
                    else:
                        self._advance(job, part, stop)
                continue
            offset = 0
            for job, start, stop in batch:
                self._advance(job, scores.rows(offset, offset + stop - start), stop)
                offset += stop - start

    def _advance(self, job: _Job, part: Scores, stop: int) -> None:
        job.parts.append(part)
        job.done = stop
        if job.done == len(job.texts):
            self._pending.remove(job)
            _settle(job, concat_scores(job.parts))

    def _fail(self, job: _Job, exc: BaseException) -> None:
        if job in self._pending:
            self._pending.remove(job)
        _settle(job, exception=exc)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(job: _Job, result: Scores | None = None, exception: BaseException | None = None) -> None:
    if job.future.done():  # the client went away and the request was cancelled
        return
    if exception is not None:
        job.future.set_exception(exception)
    else:
        job.future.set_result(result)
