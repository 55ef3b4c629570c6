"""One batch of raw records in, the records to publish out.

Plain Python (no Faust, no Kafka client): the agent in :mod:`streams.app`
hands each batch here and sends what comes back. Every input record yields
exactly one ``classified`` or one ``deadletter`` output, plus one output per
event type on its event topic.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsevents.config import Topics
from newsevents.model.article import Article, ArticleError, parse_article
from newsevents.model.messages import deadletter_message, encode
from newsevents.model.service import ArticleClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed record: its raw value and where it came from."""

    value: bytes | None
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    timestamp: float | None = None  # seconds since the epoch, when the broker gave one


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class BatchResult:
    """What to publish for one batch, and what happened to it."""

    outputs: list[Output] = field(default_factory=list)
    classified: int = 0
    deadlettered: Counter = field(default_factory=Counter)  # reason code -> count
    events: Counter = field(default_factory=Counter)  # event type -> count
    model_version: str = ""


def _deadletter(topics: Topics, record: RawRecord, code: str, detail: str, article_id: str | None) -> Output:
    value = deadletter_message(
        record.value if record.value is not None else b"",
        error=code,
        detail=detail,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        article_id=article_id,
    )
    key = article_id.encode() if article_id else record.key
    return Output(topics.deadletter, key, encode(value))


def process_batch(
    records: Sequence[RawRecord],
    classifier: ArticleClassifier,
    topics: Topics,
    *,
    max_bytes: int,
) -> BatchResult:
    """Parse, classify and route a batch.

    Records that cannot be parsed are dead-lettered with their reason code.
    If the classifier fails on the batch, each article is retried alone so
    one bad article cannot take the others down with it; the ones that still
    fail are dead-lettered as ``classification_error``.
    """
    result = BatchResult(model_version=classifier.version)
    parsed: list[tuple[RawRecord, Article]] = []
    for record in records:
        record_id = record.key.decode("utf-8", "replace") if record.key else None
        if record.value is None:
            result.outputs.append(
                _deadletter(topics, record, "no_text", "the record has no value (tombstone)", record_id)
            )
            result.deadlettered["no_text"] += 1
            continue
        try:
            parsed.append((record, parse_article(record.value, max_bytes=max_bytes, fallback_id=record_id)))
        except ArticleError as exc:
            result.outputs.append(_deadletter(topics, record, exc.code, exc.detail, exc.article_id))
            result.deadlettered[exc.code] += 1

    messages: list[dict | None]
    try:
        messages = list(classifier.classify([a for _, a in parsed]))
    except Exception:
        log.exception("batch of %d failed to classify; retrying one by one", len(parsed))
        messages = []
        for _, article in parsed:
            try:
                messages.append(classifier.classify([article])[0])
            except Exception:
                messages.append(None)

    for (record, article), message in zip(parsed, messages, strict=True):
        key = article.id.encode()
        if message is None:
            result.outputs.append(
                _deadletter(topics, record, "classification_error", "the classifier failed on this article", article.id)
            )
            result.deadlettered["classification_error"] += 1
            continue
        value = encode(message)
        result.outputs.append(Output(topics.classified, key, value))
        result.classified += 1
        for event in message["events"]:
            result.outputs.append(Output(topics.event(event["type"]), key, value))
            result.events[event["type"]] += 1
    return result
