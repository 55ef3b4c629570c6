"""Raw articles: parsing a producer's payload and preparing it for the model.

A raw article is a JSON object (fields of the ``news.articles.raw`` contract)
or, when the payload is not a JSON object, the plain text of one article.
:func:`parse_article` turns bytes into an :class:`Article` or raises
:class:`ArticleError` with a machine-readable ``code``; :func:`prepare`
cleans it into the sentences the classifier reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

from newsevents.model.cleaning import clean_text, html_to_text, looks_english, normalise
from newsevents.model.sentences import split_sentences

#: Default limit on one raw payload, in bytes (1 MiB).
DEFAULT_MAX_BYTES = 1 << 20
#: Article ids (and so output record keys) are at most this many UTF-8 bytes;
#: see :func:`normalise_id`.
MAX_ID_BYTES = 256
#: A longer id keeps its first bytes up to this many, then ``~`` and a digest.
_ID_PREFIX_BYTES = 200
#: The cleaned title (the first sentence the model reads) is cut to this many characters.
MAX_TITLE_CHARS = 1000
_BOM = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")

_TEXT_FIELDS = ("title", "text", "body", "html")
_HTML_HINT = re.compile(r"<(html|body|head|article|div|p|script|!doctype)\b", re.IGNORECASE)
_META_FIELDS = ("url", "source", "published_at", "language")


class ArticleError(ValueError):
    """A payload that is not a usable article.

    ``code`` is one of: ``invalid_utf8``, ``oversized``, ``not_an_article``,
    ``invalid_field``, ``no_text``, ``too_deep``. ``article_id``, when known,
    is already normalised (:func:`normalise_id`).
    """

    def __init__(self, code: str, detail: str, article_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.article_id = article_id


@dataclass(frozen=True, slots=True)
class Article:
    """One raw article, as sent by a producer. All text fields may be empty."""

    id: str
    title: str = ""
    text: str = ""
    html: str = ""
    url: str = ""
    source: str = ""
    published_at: str = ""
    language: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    """An article prepared for the model.

    ``sentences`` is the cleaned title followed by the cleaned body, split into
    sentences. ``reason`` says why the article should not be classified
    (``no_text``, ``not_english``), else None.
    """

    sentences: list[str] = field(default_factory=list)
    reason: str | None = None


def normalise_id(raw: str | bytes) -> str:
    """The article id for a payload's ``id`` or a record key: short, stable
    and distinct for distinct inputs. The one rule for ids and output keys.

    A UTF-8 key is read as text; any other key becomes ``hex-`` and its bytes
    in hex, so different binary keys never share an id. An id longer than
    ``MAX_ID_BYTES`` in UTF-8, or holding a lone surrogate (which UTF-8
    cannot encode), becomes its start (surrogates replaced by U+FFFD), ``~``
    and 32 hex digits of the SHA-256 of the whole. Normalising a normalised
    id returns it unchanged; an empty input gives ``""``.
    """
    if isinstance(raw, bytes):
        try:
            return normalise_id(raw.decode("utf-8"))
        except UnicodeDecodeError:
            readable = "hex-" + raw[:MAX_ID_BYTES].hex()
            if len(readable) <= MAX_ID_BYTES:
                return readable
            return readable[:_ID_PREFIX_BYTES] + "~" + hashlib.sha256(raw).hexdigest()[:32]
    if len(raw) <= MAX_ID_BYTES:
        if raw.isascii():
            return raw
        try:
            if len(raw.encode("utf-8")) <= MAX_ID_BYTES:
                return raw
        except UnicodeEncodeError:  # a lone surrogate
            pass
    head = _SURROGATE.sub("\ufffd", raw[:_ID_PREFIX_BYTES]).encode("utf-8")[:_ID_PREFIX_BYTES]
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return head.decode("utf-8", "ignore") + "~" + digest


def _text_field(value: str) -> str:
    """A string from JSON, with lone surrogates (from escapes such as
    ``"\\ud800"``, which UTF-8 cannot encode) replaced by U+FFFD."""
    if value.isascii():
        return value
    return _SURROGATE.sub("\ufffd", value)


def _digest(*parts: str) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def article_from_mapping(obj: dict, *, fallback_id: str | None = None) -> Article:
    """Build an Article from a decoded JSON object, validating field types.

    The id is the object's ``id``, else ``fallback_id`` (the record key), else
    derived from the url, else from the content; ids go through
    :func:`normalise_id`. Lone surrogates in text become U+FFFD.
    """
    fallback_id = normalise_id(fallback_id) or None if fallback_id else None
    raw_id = obj.get("id")
    known_id = normalise_id(raw_id.strip()) or None if isinstance(raw_id, str) else None
    values: dict[str, str] = {}
    for name in (*_TEXT_FIELDS, *_META_FIELDS, "id"):
        value = obj.get(name)
        if value is None:
            continue
        if name == "id" and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ArticleError(
                "invalid_field", f"field {name!r} must be a string, got {type(value).__name__}", known_id or fallback_id
            )
        values[name] = value if name == "id" else _text_field(value)
    text = values.pop("text", "") or values.pop("body", "")
    values.pop("body", None)
    article_id = normalise_id(values.pop("id", "").strip()) or fallback_id or ""
    if not any(values.get(f, "").strip() for f in ("title", "html")) and not text.strip():
        raise ArticleError("no_text", "the article has no title, text, body or html", article_id or None)
    if not article_id:
        url = values.get("url", "").strip()
        article_id = (
            "url-" + _digest(url) if url else "sha-" + _digest(values.get("title", ""), text, values.get("html", ""))
        )
    return Article(id=article_id, text=text, **values)


def article_from_text(text: str, *, fallback_id: str | None = None) -> Article:
    """An article given as text. A whole HTML page is taken as ``html``; in
    plain text, a short first line followed by more text (a headline) becomes
    the title. The id is ``fallback_id`` (the record key) or derived from the
    content."""
    fallback_id = normalise_id(fallback_id) or None if fallback_id else None
    if not text.strip():
        raise ArticleError("no_text", "the article text is empty", fallback_id)
    article_id = fallback_id or "sha-" + _digest("", text, "")
    text = _text_field(text)
    if text.lstrip().startswith("<") and _HTML_HINT.search(text[:4096]):
        return Article(id=article_id, html=text)
    head, _, rest = text.strip().partition("\n")
    head = head.strip()
    if rest.strip() and len(head) <= 200 and not head.endswith((".", ":", ",")):
        return Article(id=article_id, title=head, text=rest)
    return Article(id=article_id, text=text)


def _parse_int(digits: str) -> int | Decimal:
    # Python refuses to turn thousands of digits into an int; such a number
    # is still JSON (an id given as a number keeps all its digits).
    try:
        return int(digits)
    except ValueError:
        return Decimal(digits)


def parse_article(
    payload: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, fallback_id: str | bytes | None = None
) -> Article:
    """Decode one raw payload into an Article.

    ``fallback_id`` (the record's key, when it has one, as bytes or text) is
    the article id when the payload does not name one; it goes through
    :func:`normalise_id` like every id. A leading byte-order mark is ignored.
    Lone surrogates escaped in JSON strings (``"\\ud800"``) become U+FFFD:
    the article is still usable, and every output stays valid UTF-8.

    Raises
    ------
    ArticleError
        With ``code`` ``oversized``, ``invalid_utf8``, ``not_an_article``,
        ``invalid_field``, ``no_text`` or ``too_deep`` (JSON nested deeper
        than the parser's recursion limit, about 1,000 levels). Nothing else,
        for any input.
    """
    key = normalise_id(fallback_id) or None if fallback_id else None
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ArticleError("oversized", f"payload is {size:,} bytes, over the limit of {max_bytes:,}", key)
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArticleError(
                "invalid_utf8", f"payload is not valid UTF-8 ({exc.reason} at byte {exc.start})", key
            ) from None
    if payload.startswith(_BOM):
        payload = payload[1:]
    stripped = payload.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            obj = json.loads(payload, parse_int=_parse_int)
        except RecursionError:
            raise ArticleError("too_deep", "the JSON is nested too deeply to parse (about 1,000 levels)", key) from None
        except ValueError:
            obj = None  # looks like JSON but is not: plain text that starts with a brace
        if isinstance(obj, dict):
            return article_from_mapping(obj, fallback_id=key)
        if obj is not None:
            raise ArticleError("not_an_article", f"a JSON {type(obj).__name__} is not an article object", key)
    return article_from_text(payload, fallback_id=key)


def prepare(article: Article) -> Document:
    """Clean an article into the sentences the classifier reads.

    HTML wins over plain text when both are given (it is the fuller source).
    The title, when given and not already the opening of the body, becomes the
    first sentence (cut to ``MAX_TITLE_CHARS``). Never raises; the cost is
    linear in the article's size and bounded by the cleaning caps.
    """
    body = html_to_text(article.html) if article.html.strip() else article.text
    body = clean_text(body)
    title = normalise(article.title[: 4 * MAX_TITLE_CHARS], max_chars=MAX_TITLE_CHARS)
    title = title[:MAX_TITLE_CHARS].replace("\n", " ")
    sentences = split_sentences(body)
    if title and not (sentences and sentences[0].startswith(title[:60])):
        sentences.insert(0, title)
    if not sentences:
        return Document([], "no_text")
    if article.language and not article.language.lower().startswith("en"):
        return Document(sentences, "not_english")
    if not looks_english(" ".join(sentences[:8])):
        return Document(sentences, "not_english")
    return Document(sentences)
