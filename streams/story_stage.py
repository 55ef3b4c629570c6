"""The story stage: classified articles in, their story fields added, published.

Plain Python (no Kafka client). The classify stage encodes each classified
value once and sends it, in an :class:`Envelope`, to a one-partition internal
topic; one worker at a time owns that partition and runs :class:`StoryGrouper`
on its batches, so two workers can never give one story two ids. The grouper
appends ``story_id`` and ``duplicate`` to the encoded value, and returns the
outputs: the classified value, one copy per event type, and the story index's
entry for the article (persisted to a compacted topic, so the next owner
rebuilds the index from it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsevents.config import Topics
from newsevents.model.messages import complete_classified
from newsevents.model.stories import StoryAssignment, StoryError, StoryIndex, StorySignature
from newsevents.streams.envelope import Envelope
from newsevents.streams.pipeline import BatchResult, Output, RawRecord, internal_error_result

#: Seconds an article's time may run ahead of this worker's clock: the index's
#: clock is the newest time it has seen, and one article from the far future
#: would expire everything.
FUTURE_SLACK = 300.0


@dataclass
class StoryStats:
    """What the grouper did so far (for metrics)."""

    stories: int = 0
    duplicates: int = 0


class StoryGrouper:
    """Assigns stories to batches of envelopes with a windowed :class:`StoryIndex`.

    Not thread-safe; one grouper per owner of the story partition.
    """

    def __init__(self, topics: Topics, *, window: float, clock: Callable[[], float] = time.time) -> None:
        self.topics = topics
        self.window = window
        self._clock = clock
        self.index = StoryIndex(window=window)
        self.stats = StoryStats()

    def reset(self) -> None:
        """Forget everything (the story partition went to another worker)."""
        self.index = StoryIndex(window=self.window)

    def restore(self, article_id: str, entry: bytes) -> bool:
        """Put back one persisted index entry; False when it is past the window or malformed."""
        try:
            return self.index.restore(article_id, entry)
        except StoryError:
            return False

    def group(self, records: Sequence[RawRecord]) -> BatchResult:
        """Outputs for a batch of envelope records, in order; counts of new stories by event type."""
        result = BatchResult()
        now = self._clock()
        for record in records:
            try:
                outputs, assignment, types = self._one(record, now)
            except Exception as exc:  # whatever one record does (RecursionError included), only it is dead-lettered
                detail = f"story stage: {type(exc).__name__}: {str(exc)[:200]}"
                result.merge(internal_error_result(record, self.topics, detail))
                continue
            result.outputs += outputs
            result.classified += 1
            if assignment.duplicate:
                result.duplicates += 1
                self.stats.duplicates += 1
            else:
                result.events.update(types)  # stories are counted once, by their first article
                self.stats.stories += 1
        return result

    def _one(self, record: RawRecord, now: float) -> tuple[list[Output], StoryAssignment, tuple[str, ...]]:
        if record.value is None or not record.key:
            raise ValueError("an envelope needs a key and a value")
        envelope = Envelope.from_bytes(record.value)
        article_id = record.key.decode("utf-8")
        signature = StorySignature.from_bytes(envelope.signature) if envelope.signature else None
        assignment = self.index.assign(article_id, signature, min(envelope.at, now + FUTURE_SLACK))
        value = complete_classified(envelope.prefix, assignment.story_id, assignment.duplicate)
        key = record.key
        outputs = [Output(self.topics.classified, key, value)]
        outputs += [Output(self.topics.event(t), key, value) for t in envelope.event_types]
        entry = self.index.export(article_id) if envelope.signature else None
        if entry is not None:
            outputs.append(Output(self.topics.story_index, key, entry))
        return outputs, assignment, envelope.event_types
