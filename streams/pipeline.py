"""One batch of raw records in, the records to publish out.

Plain Python (no Faust, no Kafka client): the worker hands each batch here
(in a child process or a thread) and publishes what comes back.

The promise, kept by construction: every input record yields exactly one
primary output, a ``classified`` value or a dead letter, plus one copy of the
classified value per event type on its event topic. Whatever goes wrong with
one record (a payload that is not an article, a classifier failure, an
exception nobody foresaw) becomes that record's dead letter and never takes
the rest of the batch with it. Every output, key and value, fits the
producer's request limit.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsevents.config import Topics
from newsevents.model.article import Article, ArticleError, normalise_id, parse_article
from newsevents.model.messages import (
    DEADLETTER_PAYLOAD_BYTES,
    DEADLETTER_SCHEMA,
    MAX_KEY_BYTES,
    classified_prefix,
    deadletter_message,
    encode,
    fits_producer,
    utc_now,
)
from newsevents.model.service import ArticleClassifier, ClassifiedArticle
from newsevents.streams.envelope import Envelope

log = logging.getLogger(__name__)

#: Room kept for the story fields the story stage appends to a classified value.
STORY_FIELDS_BYTES = 4096


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
    """One record to publish."""

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
    duplicates: int = 0  # articles that were copies of an earlier one (story stage)
    model_version: str = ""

    def merge(self, other: BatchResult) -> None:
        """Add another result's outputs and counts to this one."""
        self.outputs.extend(other.outputs)
        self.classified += other.classified
        self.deadlettered.update(other.deadlettered)
        self.events.update(other.events)
        self.duplicates += other.duplicates
        self.model_version = other.model_version or self.model_version


def _fits(key: bytes | None, value: bytes, *, reserve: int = 0) -> bool:
    return len(key or b"") <= MAX_KEY_BYTES and fits_producer(key, value, reserve=reserve)


def _record_id(record: RawRecord) -> str | None:
    """The record key as an article id (bounded, distinct for distinct keys), when it has one."""
    return normalise_id(record.key) or None if record.key else None


def _safe_deadletter(record: RawRecord, topics: Topics, code: str, detail: str) -> Output:
    """A dead letter that cannot fail: ASCII only, payload quoted as base64 within the budget."""
    payload = record.value or b""
    budget = (DEADLETTER_PAYLOAD_BYTES // 4) * 3  # base64 grows 4/3
    quoted = payload[:budget]
    message = {
        "schema": DEADLETTER_SCHEMA,
        "error": code,
        "detail": detail.encode("ascii", "replace").decode("ascii")[:500],
        "payload": base64.b64encode(quoted).decode("ascii"),
        "payload_encoding": "base64",
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "failed_at": utc_now(),
    }
    if len(quoted) < len(payload):
        message["payload_truncated"] = True
        message["payload_bytes"] = len(payload)
    record_id = _record_id(record)
    return Output(topics.deadletter, record_id.encode() if record_id else None, encode(message))


def _deadletter(record: RawRecord, topics: Topics, code: str, detail: str, article_id: str | None) -> Output:
    try:
        message = deadletter_message(
            record.value if record.value is not None else b"",
            error=code,
            detail=detail,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            article_id=article_id,
        )
        value = encode(message)
        known = message.get("id") or _record_id(record)
        key = known.encode("utf-8") if known else None
        if _fits(key, value):
            return Output(topics.deadletter, key, value)
    except Exception:
        log.exception("could not build the dead letter of %s[%d]@%d", record.topic, record.partition, record.offset)
    return _safe_deadletter(record, topics, code, detail)


def internal_error_result(record: RawRecord, topics: Topics, detail: str) -> BatchResult:
    """The result for a record that could not be handled at all: one ``internal_error`` dead letter."""
    result = BatchResult()
    result.outputs.append(_safe_deadletter(record, topics, "internal_error", detail))
    result.deadlettered["internal_error"] += 1
    return result


def _parse(record: RawRecord, max_bytes: int) -> Article:
    if record.value is None:
        raise ArticleError("no_text", "the record has no value (tombstone)", _record_id(record))
    return parse_article(record.value, max_bytes=max_bytes, fallback_id=_record_id(record))


def _classify(classifier: ArticleClassifier, articles: Sequence[Article]) -> list[ClassifiedArticle | Exception]:
    """One result per article, or the exception that article raised."""
    if not articles:
        return []
    try:
        return list(classifier.analyse(articles))
    except Exception:
        log.exception("batch of %d failed to classify; retrying one by one", len(articles))
    results: list[ClassifiedArticle | Exception] = []
    for article in articles:
        try:
            results.append(classifier.analyse([article])[0])
        except Exception as exc:
            results.append(exc)
    return results


def process_batch(
    records: Sequence[RawRecord],
    classifier: ArticleClassifier,
    topics: Topics,
    *,
    max_bytes: int,
) -> BatchResult:
    """Parse, classify and route a batch: one primary output per record, in input order.

    A classified article goes, in a story envelope, to the internal stories
    topic, where the story stage completes and publishes it (see
    :mod:`newsevents.streams.story_stage`). Records that cannot be parsed are
    dead-lettered with their reason code.
    If the classifier fails on the batch, each article is retried alone; one
    that still fails is dead-lettered as ``classification_error``. Any other
    exception while handling a record dead-letters it as ``internal_error``,
    naming the exception type.
    """
    result = BatchResult(model_version=classifier.version)
    parsed: list[tuple[int, RawRecord, Article]] = []
    primary: list[list[Output] | None] = [None] * len(records)
    for i, record in enumerate(records):
        try:
            parsed.append((i, record, _parse(record, max_bytes)))
        except ArticleError as exc:
            primary[i] = [_deadletter(record, topics, exc.code, exc.detail, exc.article_id)]
            result.deadlettered[exc.code] += 1
        except Exception as exc:
            primary[i] = [_deadletter(record, topics, "internal_error", f"parsing raised {type(exc).__name__}", None)]
            result.deadlettered["internal_error"] += 1

    analysed = _classify(classifier, [article for _, _, article in parsed])
    for (i, record, article), done in zip(parsed, analysed, strict=True):
        if isinstance(done, Exception):
            detail = f"the classifier failed on this article ({type(done).__name__})"
            primary[i] = [_deadletter(record, topics, "classification_error", detail, article.id)]
            result.deadlettered["classification_error"] += 1
            continue
        message = done.message
        try:
            key = article.id.encode("utf-8")
            envelope = Envelope(
                at=record.timestamp or time.time(),
                event_types=tuple(event["type"] for event in message["events"]),
                signature=done.signature.to_bytes() if done.signature is not None else b"",
                prefix=classified_prefix(message),
            ).to_bytes()
            if not _fits(key, envelope, reserve=STORY_FIELDS_BYTES):
                raise ValueError(f"the classified message is {len(envelope):,} bytes, over the record limit")
            outputs = [Output(topics.stories, key, envelope)]
        except Exception as exc:
            detail = f"building the output raised {type(exc).__name__}: {str(exc)[:200]}"
            primary[i] = [_deadletter(record, topics, "internal_error", detail, None)]
            result.deadlettered["internal_error"] += 1
            continue
        primary[i] = outputs
        result.classified += 1
        result.events.update(event["type"] for event in message["events"])

    for record_outputs in primary:
        assert record_outputs is not None  # every record was given its outputs above
        result.outputs.extend(record_outputs)
    return result
