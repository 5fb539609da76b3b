"""The HTTP service's scoring queue: shared batches, right answers, failures kept to their request."""

import asyncio
import threading
import time

import numpy as np
import pytest
from triage.models.artifact import Scores
from triage.serve.batching import ScoringQueue


class RecordingScorer:
    """Scores a text as itself (in `langs`), slowly, recording the batches it was given."""

    def __init__(self, delay: float = 0.02):
        self.delay, self.batches = delay, []
        self.lock = threading.Lock()

    def __call__(self, texts):
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.delay)
        if any("boom" in t for t in texts):
            raise RuntimeError("broken text")
        n = len(texts)
        return Scores(list(texts), np.arange(n, dtype=float), np.zeros((n, 7)), np.zeros(n), 0.5)


async def _gather(queue, requests):
    return await asyncio.gather(*(queue.score(r) for r in requests), return_exceptions=True)


def test_concurrent_requests_share_batches_and_get_their_own_scores():
    scorer = RecordingScorer()
    queue = ScoringQueue(scorer, max_batch_items=512)
    requests = [[f"r{i}-a", f"r{i}-b"] if i % 3 == 0 else [f"r{i}"] for i in range(40)]
    results = asyncio.run(_gather(queue, requests))
    assert [r.langs for r in results] == requests
    assert len(scorer.batches) < len(requests) / 4  # the first alone, then the rest together
    assert sorted(t for batch in scorer.batches for t in batch) == sorted(t for r in requests for t in r)


def test_batches_respect_the_item_limit():
    scorer = RecordingScorer()
    queue = ScoringQueue(scorer, max_batch_items=10)
    results = asyncio.run(_gather(queue, [[f"{i}-{j}" for j in range(4)] for i in range(12)]))
    assert all(len(r.langs) == 4 for r in results)
    assert max(len(b) for b in scorer.batches) <= 10


def test_a_failing_text_fails_only_its_own_request():
    scorer = RecordingScorer()
    queue = ScoringQueue(scorer)
    requests = [["first"], ["fine"], ["boom"], ["also fine"]]
    results = asyncio.run(_gather(queue, requests))
    assert results[0].langs == ["first"] and results[1].langs == ["fine"]
    assert isinstance(results[2], RuntimeError)
    assert results[3].langs == ["also fine"]


def test_an_idle_queue_scores_a_lone_request_at_once():
    scorer = RecordingScorer(delay=0)
    queue = ScoringQueue(scorer)

    result = asyncio.run(queue.score(["alone"]))
    assert result.langs == ["alone"] and scorer.batches == [["alone"]]


@pytest.mark.parametrize("start, stop", [(0, 2), (1, 3), (2, 2)])
def test_scores_rows_slices_every_field(start, stop):
    scores = Scores(["a", "b", "c"], np.arange(3.0), np.eye(3, 7), np.array([0.1, 0.6, 0.9]), 0.5)
    part = scores.rows(start, stop)
    assert part.langs == ["a", "b", "c"][start:stop]
    assert np.array_equal(part.cause_proba, np.eye(3, 7)[start:stop])
    assert list(part.trolls) == [False, True, True][start:stop]


def test_a_one_item_request_is_not_held_behind_maximum_size_requests():
    """8 × 256 items queued first once held a one-item request for all 2,048 items (4.5 s)."""
    scorer = PerItemScorer(seconds_per_item=0.001)
    queue = ScoringQueue(scorer)
    finished: dict[str, float] = {}

    async def timed(name, texts, delay=0.0):
        await asyncio.sleep(delay)
        started = time.perf_counter()
        result = await queue.score(texts)
        finished[name] = time.perf_counter() - started
        return result

    async def main():
        big = [timed(f"big{i}", [f"b{i}-{j}" for j in range(256)]) for i in range(8)]
        return await asyncio.gather(*big, timed("one", ["small"], delay=0.05))

    results = asyncio.run(main())
    assert [r.langs for r in results[:8]] == [[f"b{i}-{j}" for j in range(256)] for i in range(8)]
    assert results[8].langs == ["small"]
    assert min(finished[f"big{i}"] for i in range(8)) > 1.0  # 2,048 items at 1 ms each
    assert finished["one"] < 0.6  # at most the batch in progress (≤ 256 ms) and its own


class PerItemScorer(RecordingScorer):
    def __init__(self, seconds_per_item: float):
        super().__init__(delay=0)
        self.seconds_per_item = seconds_per_item

    def __call__(self, texts):
        time.sleep(self.seconds_per_item * len(texts))
        return super().__call__(texts)


def test_a_large_request_is_split_into_slices_and_reassembled_in_order():
    scorer = RecordingScorer(delay=0)
    queue = ScoringQueue(scorer, max_batch_items=50, slice_items=20)
    texts = [f"t{i}" for i in range(130)]
    result = asyncio.run(queue.score(texts))
    assert result.langs == texts and list(result.lang_scores[:3]) == [0.0, 1.0, 2.0]
    assert max(len(b) for b in scorer.batches) <= 50


def test_the_service_sizes_its_scoring_batches_by_the_model(fitted_model):
    """The encoder gets small batches (one item waits for at most one of them), TF-IDF large ones,
    and a blend the smallest of its members'."""
    from triage.models.blend import BlendClassifier
    from triage.serve.predictor import Predictor
    from triage.serve.serving import ServingModel

    class Encoder:
        kind, serving_batch_items = "transformer", 32

    assert ServingModel(Predictor(fitted_model)).current.queue.max_batch_items == 256
    blend = BlendClassifier([Encoder(), fitted_model.classifier], [0.5, 0.5], [0.5, 0.5])
    model = type(fitted_model)(blend, fitted_model.langid, fitted_model.troll_threshold)
    queue = ServingModel(Predictor(model)).current.queue
    assert (queue.max_batch_items, queue.slice_items) == (32, 8)
