"""The model the service answers with now, and the atomic swap to a new one.

Why generations: a request takes the current generation when it starts scoring and keeps it
until its response is built, so it is scored, replied to and labelled by one model even when a
swap happens meanwhile (requests in flight finish on the old model). Each generation has its
own scoring queue, so one batch never mixes two models; the old queue closes when its last
request is done. Every method runs on the event loop's thread, so swapping is one assignment
and needs no lock.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from triage.serve.batching import ScoringQueue
from triage.serve.predictor import Predictor


@dataclass(eq=False)
class Generation:
    """One loaded model with its scoring queue and the requests using it."""

    predictor: Predictor
    queue: ScoringQueue
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    active: int = 0
    retired: bool = False

    @property
    def labels(self) -> tuple[str, str, str]:
        """(name, version, digest): how metrics and logs name this model."""
        info = self.predictor.info
        return info.name, info.version, self.predictor.digest or ""


DEFAULT_BATCH_ITEMS = 256


def scoring_batch_items(predictor: Predictor) -> int:
    """Comments per scoring batch for this model: a one-comment request waits for at most one
    batch, so a slow model (the encoder: about 15 ms a comment on 2 cores) gets small batches
    and the TF-IDF model large ones (its cost per call dwarfs its cost per comment). A batch
    takes a quarter of that from each waiting request in turn, so a new request gets into the
    next batch even behind several large ones."""
    return int(getattr(predictor.model.classifier, "serving_batch_items", DEFAULT_BATCH_ITEMS))


def _generation(predictor: Predictor) -> Generation:
    items = scoring_batch_items(predictor)
    return Generation(
        predictor, ScoringQueue(predictor.score, max_batch_items=items, slice_items=max(1, items // 4))
    )


class ServingModel:
    """Holds the current generation; `use()` pins it for one request, `swap()` replaces it."""

    def __init__(self, predictor: Predictor):
        self.current = _generation(predictor)

    @contextmanager
    def use(self) -> Iterator[Generation]:
        generation = self.current
        generation.active += 1
        try:
            yield generation
        finally:
            generation.active -= 1
            if generation.retired and generation.active == 0:
                generation.queue.close()

    def swap(self, predictor: Predictor) -> Generation:
        """Serve `predictor` from now on; returns the generation it replaces. The score cache is
        cleared: its keys already name the model, this frees the old model's entries now."""
        old, self.current = self.current, _generation(predictor)
        old.retired = True
        if old.active == 0:
            old.queue.close()
        predictor.cache.clear()
        return old

    def close(self) -> None:
        self.current.queue.close()
