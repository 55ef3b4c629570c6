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

from newsevents.model.cleaning import clean_text, html_to_text, looks_english, normalise
from newsevents.model.sentences import split_sentences

#: Default limit on one raw payload, in bytes (1 MiB).
DEFAULT_MAX_BYTES = 1 << 20

_TEXT_FIELDS = ("title", "text", "body", "html")
_HTML_HINT = re.compile(r"<(html|body|head|article|div|p|script|!doctype)\b", re.IGNORECASE)
_META_FIELDS = ("url", "source", "published_at", "language")


class ArticleError(ValueError):
    """A payload that is not a usable article.

    ``code`` is one of: ``invalid_utf8``, ``oversized``, ``not_an_article``,
    ``invalid_field``, ``no_text``.
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


def _digest(*parts: str) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def article_from_mapping(obj: dict, *, fallback_id: str | None = None) -> Article:
    """Build an Article from a decoded JSON object, validating field types.

    The id is the object's ``id``, else ``fallback_id`` (the record key), else
    derived from the url, else from the content.
    """
    values: dict[str, str] = {}
    for name in (*_TEXT_FIELDS, *_META_FIELDS, "id"):
        value = obj.get(name)
        if value is None:
            continue
        if name == "id" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ArticleError(
                "invalid_field",
                f"field {name!r} must be a string, got {type(value).__name__}",
                str(obj.get("id")) if isinstance(obj.get("id"), str) else None,
            )
        values[name] = value
    text = values.pop("text", "") or values.pop("body", "")
    values.pop("body", None)
    if not any(values.get(f, "").strip() for f in ("title", "html")) and not text.strip():
        raise ArticleError("no_text", "the article has no title, text, body or html", values.get("id") or fallback_id)
    article_id = values.pop("id", "").strip() or (fallback_id or "")
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
    if not text.strip():
        raise ArticleError("no_text", "the article text is empty", fallback_id)
    article_id = fallback_id or "sha-" + _digest("", text, "")
    if text.lstrip().startswith("<") and _HTML_HINT.search(text[:4096]):
        return Article(id=article_id, html=text)
    head, _, rest = text.strip().partition("\n")
    head = head.strip()
    if rest.strip() and len(head) <= 200 and not head.endswith((".", ":", ",")):
        return Article(id=article_id, title=head, text=rest)
    return Article(id=article_id, text=text)


def parse_article(
    payload: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, fallback_id: str | None = None
) -> Article:
    """Decode one raw payload into an Article.

    ``fallback_id`` (the record's key, when it has one) is the article id when
    the payload does not name one.

    Raises
    ------
    ArticleError
        With ``code`` ``oversized``, ``invalid_utf8``, ``not_an_article``,
        ``invalid_field`` or ``no_text``.
    """
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ArticleError("oversized", f"payload is {size:,} bytes, over the limit of {max_bytes:,}", fallback_id)
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArticleError(
                "invalid_utf8", f"payload is not valid UTF-8 ({exc.reason} at byte {exc.start})", fallback_id
            ) from None
    stripped = payload.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            obj = json.loads(payload)
        except ValueError:
            obj = None  # looks like JSON but is not: plain text that starts with a brace
        if isinstance(obj, dict):
            return article_from_mapping(obj, fallback_id=fallback_id)
        if obj is not None:
            raise ArticleError("not_an_article", f"a JSON {type(obj).__name__} is not an article object", fallback_id)
    return article_from_text(payload, fallback_id=fallback_id)


def prepare(article: Article) -> Document:
    """Clean an article into the sentences the classifier reads.

    HTML wins over plain text when both are given (it is the fuller source).
    The title, when given and not already the opening of the body, becomes the
    first sentence.
    """
    body = html_to_text(article.html) if article.html.strip() else article.text
    body = clean_text(body)
    title = normalise(article.title).replace("\n", " ")
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
