"""Message shapes: the one definition of every value we publish.

These are the contract of ``contracts.md``; producers of messages (the stream
worker, ``newsevents classify``) build them only through these functions.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

from newsevents.model.article import MAX_ID_BYTES, Article, normalise_id
from newsevents.model.classifier import Prediction
from newsevents.model.entities import ArticleEntities

CLASSIFIED_SCHEMA = "newsevents.classified/v1"
DEADLETTER_SCHEMA = "newsevents.deadletter/v1"
STATS_SCHEMA = "newsevents.stats/v1"

#: The producer refuses a record over this size, key and value together
#: (aiokafka's ``max_request_size`` default is 1 MiB; the worker counts 10^6).
PRODUCER_MAX_BYTES = 1_000_000
#: Kafka's framing of one record within that limit (aiokafka estimates under
#: 100 bytes for a record without headers; this leaves room).
RECORD_OVERHEAD_BYTES = 1024
#: Output keys are article ids, at most this many bytes (see ``normalise_id``).
MAX_KEY_BYTES = MAX_ID_BYTES
#: No value built here (classified, dead letter, stats) encodes to more than
#: this, so key + value + framing always fits ``PRODUCER_MAX_BYTES``.
MAX_VALUE_BYTES = PRODUCER_MAX_BYTES - MAX_KEY_BYTES - RECORD_OVERHEAD_BYTES
#: A dead letter quotes at most this many bytes of the payload, counted as
#: encoded in the dead letter (JSON-escaped UTF-8, or base64).
DEADLETTER_PAYLOAD_BYTES = 256 * 1024
#: Default budget of a whole encoded dead letter: the quote plus room for
#: every other field, which are capped (``detail`` at ``MAX_DETAIL_CHARS``).
DEADLETTER_MAX_BYTES = DEADLETTER_PAYLOAD_BYTES + 16 * 1024
#: The smallest budget ``deadletter_message`` accepts: the capped fields
#: other than the quote always fit in it.
DEADLETTER_MIN_BYTES = 16 * 1024
#: A classified value encodes to at most this many bytes, for taxonomies of
#: up to ``MAX_TAXONOMY_FOR_BUDGET`` types.
CLASSIFIED_MAX_BYTES = 512 * 1024
MAX_TAXONOMY_FOR_BUDGET = 2000
#: Metadata copied from the input (title, url, source, published_at) is cut to
#: this many characters, so a malformed field cannot make an output too large to send.
MAX_FIELD_CHARS = 2000
#: Each evidence sentence is cut to this many characters.
MAX_EVIDENCE_CHARS = 2000
#: Company and market names are cut to this many characters.
MAX_NAME_CHARS = 200
MAX_DETAIL_CHARS = 1000
_MAX_TOPIC_CHARS = 255
_MAX_CODE_CHARS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def fits_producer(key: bytes | None, value: bytes, *, reserve: int = 0) -> bool:
    """Whether a record with this key and value, plus ``reserve`` bytes still to be
    added to the value, is within the producer's limit."""
    return len(key or b"") + len(value) + reserve + RECORD_OVERHEAD_BYTES <= PRODUCER_MAX_BYTES


def _field(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    return value if len(value) <= limit else value[:limit]


def _dumps(value: object) -> bytes:
    """Compact UTF-8 JSON of any JSON value; a lone surrogate becomes U+FFFD."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds and a Z suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _names(names: list[str]) -> list[str]:
    return [_field(name, MAX_NAME_CHARS) for name in names]


def _event(event, entities) -> dict:
    evidence = [_field(sentence, MAX_EVIDENCE_CHARS) for sentence in event.evidence]
    value = {"type": event.type, "score": event.score, "evidence": evidence}
    if entities is not None:
        value["companies"] = _names(entities.companies)
        if entities.markets is not None:
            value["markets"] = _names(entities.markets)
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

    The encoded value stays within ``CLASSIFIED_MAX_BYTES``: the id is
    normalised, copied metadata, names and evidence sentences are cut (to
    ``MAX_FIELD_CHARS``, ``MAX_NAME_CHARS`` and ``MAX_EVIDENCE_CHARS``), and if
    a large taxonomy still makes it too big, evidence is dropped from the
    lowest-scored events first.
    """
    predicted = prediction.events if prediction else []
    per_event = entities.events if entities is not None else [None] * len(predicted)
    events = [_event(e, x) for e, x in zip(predicted, per_event, strict=True)]
    message = {
        "schema": CLASSIFIED_SCHEMA,
        "id": normalise_id(article.id),
        "title": _field(article.title),
        "url": _field(article.url),
        "source": _field(article.source),
        "published_at": _field(article.published_at),
        "events": events,
        "scores": prediction.scores if prediction else dict.fromkeys(taxonomy, 0.0),
        "model": {"name": _field(model_name), "version": _field(model_version)},
        "processed_at": processed_at or utc_now(),
        "companies": _names(entities.companies) if entities is not None else [],
    }
    if reason:
        message["reason"] = reason
    if _size_bound(message) > CLASSIFIED_MAX_BYTES:
        _shed_evidence(message, CLASSIFIED_MAX_BYTES)
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


# Bytes per character of a JSON-escaped string at worst (a control character, \u001c).
_WORST_ESCAPE = 6


def _size_bound(message: dict) -> int:
    """An upper bound on ``len(encode(message))`` for a classified value, in
    one cheap pass (no encoding)."""
    strings = sum(len(v) for v in message.values() if isinstance(v, str))
    strings += len(message["model"]["name"]) + len(message["model"]["version"])
    strings += sum(len(t) + 16 for t in message["scores"])  # 16: room for the score's digits
    strings += sum(len(name) + 1 for name in message.get("companies", ()))
    for event in message["events"]:
        strings += len(event["type"]) + 16 + sum(len(s) + 1 for s in event["evidence"])
        strings += sum(len(name) + 1 for key in ("companies", "markets") for name in event.get(key, ()))
    return 256 + _WORST_ESCAPE * strings


def _shed_evidence(message: dict, budget: int) -> None:
    """Drop evidence sentences, last event first, until the value fits ``budget``."""
    size = len(encode(message))
    for event in reversed(message["events"]):
        evidence = event["evidence"]
        while evidence and size > budget:
            size -= len(_dumps(evidence.pop()))  # the comma it leaves behind makes this an upper bound
        if size <= budget:
            return


def _raw_bytes(payload: bytes | str) -> bytes:
    if isinstance(payload, bytes):
        return payload
    try:
        return payload.encode("utf-8", "surrogateescape")  # text decoded with surrogateescape: the original bytes
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogatepass")  # other lone surrogates: not UTF-8, quoted as base64


def quote_payload(raw: bytes, budget: int) -> tuple[str, str, bool]:
    """The longest start of ``raw`` whose quote takes at most ``budget`` bytes
    in an encoded JSON message, quotes included: ``(quote, encoding, complete)``.

    The quote is text (``"utf-8"``) when that start of the payload is UTF-8,
    measured after JSON escaping (a control character costs 6 bytes), else
    base64 (4 bytes per 3). Linear in ``budget``, whatever the payload's size.
    """
    room = max(0, budget - 2)  # the two quotes
    head = raw[:room]  # no encoding shrinks: a longer start cannot fit
    try:
        text = head.decode("utf-8")
        used = len(head)
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            size = room // 4 * 3
            return base64.b64encode(raw[:size]).decode("ascii"), "base64", size >= len(raw)
        used = exc.start  # cut inside a character: still text up to the cut
        text = head[:used].decode("utf-8")
    encoded = _dumps(text)[1:-1]
    if len(encoded) <= room:
        return text, "utf-8", used == len(raw)
    # Cut the escaped form to the room, back to a whole character and a whole escape.
    cut = encoded[:room].decode("utf-8", "ignore")
    last = cut.rfind("\\", max(0, len(cut) - 6))
    if last >= 0:
        run = last + 1 - len(cut[: last + 1].rstrip("\\"))  # the backslashes ending at ``last``
        if run % 2:  # an odd run: ``last`` opens an escape ("\\\\" is a pair)
            length = 6 if cut[last + 1 : last + 2] == "u" else 2
            if last + length > len(cut):
                cut = cut[:last]
    return json.loads(f'"{cut}"'), "utf-8", False


def deadletter_message(
    payload: bytes | str,
    *,
    error: str,
    detail: str,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    article_id: str | bytes | None = None,
    max_bytes: int = DEADLETTER_MAX_BYTES,
) -> dict:
    """A ``news.articles.deadletter`` value: the original payload and why it failed.

    ``len(encode(message)) <= max_bytes`` for any payload and any field
    values: the payload is quoted up to what fits (at most
    ``DEADLETTER_PAYLOAD_BYTES``, measured after JSON escaping), with
    ``payload_truncated`` set and its full size in ``payload_bytes`` when it
    was cut; ``detail`` is cut to ``MAX_DETAIL_CHARS`` and the id goes
    through ``normalise_id``.

    Raises
    ------
    ValueError
        If ``max_bytes`` is below ``DEADLETTER_MIN_BYTES`` (a programming error).
    """
    if max_bytes < DEADLETTER_MIN_BYTES:
        raise ValueError(f"a dead letter needs a budget of at least {DEADLETTER_MIN_BYTES:,} bytes")
    raw = _raw_bytes(payload)
    message: dict = {
        "schema": DEADLETTER_SCHEMA,
        "error": _field(error, _MAX_CODE_CHARS),
        "detail": _field(detail, MAX_DETAIL_CHARS),
        "payload": "",
        "payload_encoding": "base64",
        "topic": _field(topic, _MAX_TOPIC_CHARS) if topic is not None else None,
        "partition": partition,
        "offset": offset,
        "failed_at": utc_now(),
        "payload_truncated": True,
        "payload_bytes": len(raw),
    }
    key = normalise_id(article_id) if article_id else ""
    if key:
        message["id"] = key
    # Everything but the quote, at its largest (the longer encoding name, the
    # truncation fields); its empty quote's two bytes are the quote's own.
    budget = min(DEADLETTER_PAYLOAD_BYTES + 2, max_bytes - len(encode(message)) + 2)
    quote, encoding, complete = quote_payload(raw, budget)
    message["payload"] = quote
    message["payload_encoding"] = encoding
    if complete:
        del message["payload_truncated"], message["payload_bytes"]
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
    """Compact UTF-8 JSON bytes of a message.

    Never raises for a message of JSON values (what the builders here return):
    a lone surrogate, which UTF-8 cannot encode, becomes U+FFFD.
    """
    return _dumps(message)
