"""Message shapes: the one definition of every value we publish.

These are the contract of ``contracts.md``; producers of messages (the stream
worker, ``newsevents classify``) build them only through these functions.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from newsevents.model.article import Article
from newsevents.model.classifier import Prediction
from newsevents.model.entities import ArticleEntities

CLASSIFIED_SCHEMA = "newsevents.classified/v1"
DEADLETTER_SCHEMA = "newsevents.deadletter/v1"
STATS_SCHEMA = "newsevents.stats/v1"

#: A dead letter quotes at most this many bytes of the payload: Kafka's default
#: message limit is about 1 MB, and an oversized article would not fit anyway.
DEADLETTER_PAYLOAD_BYTES = 256 * 1024
#: Metadata copied from the input (title, url, source, published_at) is cut to
#: this many characters, so a malformed field cannot make an output too large to send.
MAX_FIELD_CHARS = 2000


def _field(value: str) -> str:
    return value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS]


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds and a Z suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(event, entities) -> dict:
    value = {"type": event.type, "score": event.score, "evidence": event.evidence}
    if entities is not None:
        value["companies"] = entities.companies
        if entities.markets is not None:
            value["markets"] = entities.markets
    return value


def classified_message(
    article: Article,
    prediction: Prediction | None,
    *,
    taxonomy: list[str],
    model_name: str,
    model_version: str,
    reason: str | None = None,
    processed_at: str | None = None,
    entities: ArticleEntities | None = None,
) -> dict:
    """A ``news.articles.classified`` value, without its story fields (see :func:`with_story`).

    ``prediction`` is None when the article was not classified; ``reason``
    (``not_english``, ``no_text``) then says why, events are empty and every
    score is 0. ``entities`` gives the companies (and, per event, companies
    and markets) when the model has a company extractor.
    """
    events = prediction.events if prediction else []
    per_event = entities.events if entities is not None else [None] * len(events)
    message = {
        "schema": CLASSIFIED_SCHEMA,
        "id": _field(article.id),
        "title": _field(article.title),
        "url": _field(article.url),
        "source": _field(article.source),
        "published_at": _field(article.published_at),
        "events": [_event(e, x) for e, x in zip(events, per_event, strict=True)],
        "scores": prediction.scores if prediction else dict.fromkeys(taxonomy, 0.0),
        "model": {"name": model_name, "version": model_version},
        "processed_at": processed_at or utc_now(),
        "companies": entities.companies if entities is not None else [],
    }
    if reason:
        message["reason"] = reason
    return message


def story_fields(story_id: str, duplicate: bool) -> dict:
    """The story fields of a classified value: the first article of its story, and whether this is a copy."""
    return {"story_id": _field(story_id), "duplicate": bool(duplicate)}


def with_story(message: dict, story_id: str, duplicate: bool) -> dict:
    """A classified value completed with its story fields."""
    return {**message, **story_fields(story_id, duplicate)}


def classified_prefix(message: dict) -> bytes:
    """The encoded classified value without its closing brace, to be completed by :func:`complete_classified`.

    The worker classifies in one process and groups stories in another: the
    value is encoded once, and the story fields are appended to the bytes.
    """
    encoded = encode(message)
    if "story_id" in message or not encoded.endswith(b"}"):
        raise ValueError("a classified prefix is built from a value without story fields")
    return encoded[:-1]


def complete_classified(prefix: bytes, story_id: str, duplicate: bool) -> bytes:
    """The encoded classified value: ``prefix`` plus the story fields (same bytes as ``encode(with_story(...))``)."""
    return prefix + b"," + encode(story_fields(story_id, duplicate))[1:]


def payload_as_text(payload: bytes | str) -> tuple[str, str]:
    """The original payload for a dead letter and its encoding: the text when
    it is UTF-8 (``"utf-8"``), else its base64 (``"base64"``)."""
    if isinstance(payload, str):
        return payload, "utf-8"
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def deadletter_message(
    payload: bytes | str,
    *,
    error: str,
    detail: str,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    article_id: str | None = None,
) -> dict:
    """A ``news.articles.deadletter`` value: the original payload and why it failed.

    A payload over ``DEADLETTER_PAYLOAD_BYTES`` is quoted up to that size, with
    ``payload_truncated`` set and its full size in ``payload_bytes``.
    """
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
    truncated = len(raw) > DEADLETTER_PAYLOAD_BYTES
    if truncated:
        payload = raw[:DEADLETTER_PAYLOAD_BYTES]
        if isinstance(payload, bytes):
            # Cutting may split a UTF-8 character: keep the text readable when it was text.
            try:
                raw.decode("utf-8")
                payload = payload.decode("utf-8", "ignore")
            except UnicodeDecodeError:
                pass
    text, encoding = payload_as_text(payload)
    message = {
        "schema": DEADLETTER_SCHEMA,
        "error": error,
        "detail": detail,
        "payload": text,
        "payload_encoding": encoding,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "failed_at": utc_now(),
    }
    if truncated:
        message["payload_truncated"] = True
        message["payload_bytes"] = len(raw)
    if article_id:
        message["id"] = _field(article_id)
    return message


def stats_message(event_type: str, counts: dict[str, int], *, model_version: str | None = None) -> dict:
    """A ``news.events.stats`` value: rolling counts of one event type.

    ``counts`` maps window names (``last_hour``, ``last_24h``, ``total``) to
    numbers of classified articles carrying the type.
    """
    return {
        "schema": STATS_SCHEMA,
        "type": event_type,
        **counts,
        "model_version": model_version,
        "updated_at": utc_now(),
    }


def encode(message: dict) -> bytes:
    """Compact UTF-8 JSON bytes of a message."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
