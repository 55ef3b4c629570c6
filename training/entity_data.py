"""Annotated entities: companies per article and per event, and markets.

Annotations come from three places, all read by :func:`load_annotated`:

* ``entities`` blocks inside corpus lines (``training/data/corpus/*.jsonl``),
  the form new corpus articles arrive in;
* annotation files (``training/data/entities/*.jsonl``), one
  ``{"id", "entities"}`` per line, for corpus articles written before the
  block existed;
* ``samples/annotations.jsonl``: ``{"id", "labels", "entities", "note"}`` for
  the lines of ``samples/stream.jsonl``, whose labels were decided by the
  annotator.

The ``entities`` block follows the annotation rules (see the datasheet)::

    {"companies": [{"name": "Tapestry", "forms": ["Tapestry"]}, ...],
     "events": {"partnership": {"companies": ["Tapestry", "Tmall"]},
                "market_expansion": {"companies": ["Tapestry"], "markets": ["China"]}}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsevents.model.article import Article, ArticleError, article_from_mapping
from newsevents.model.entities import EntityAnnotation, GoldCompany
from newsevents.model.taxonomy import TaxonomyError, validate_type_id
from newsevents.training.corpus import DEFAULT_CORPUS_DIR, CorpusError, expand_paths

#: Annotation files for corpus articles.
DEFAULT_ENTITIES_DIR = Path(__file__).resolve().parent / "data" / "entities"
_SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
#: The demo stream and its annotations.
SAMPLES_STREAM = _SAMPLES_DIR / "stream.jsonl"
SAMPLES_ANNOTATIONS = _SAMPLES_DIR / "annotations.jsonl"


@dataclass(frozen=True, slots=True)
class AnnotatedArticle:
    """An article with its event labels and annotated entities; ``origin`` is ``corpus`` or ``samples``."""

    id: str
    origin: str
    article: Article
    labels: tuple[str, ...]
    entities: EntityAnnotation


def _strings(value: object, what: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise CorpusError(f"{where}: {what} must be a list of non-empty strings")
    return value


def parse_entities(block: object, where: str) -> EntityAnnotation:
    """Validate an ``entities`` block; raise :class:`CorpusError` naming ``where`` on any fault."""
    if not isinstance(block, dict):
        raise CorpusError(f"{where}: 'entities' must be an object")
    companies_raw = block.get("companies", [])
    if not isinstance(companies_raw, list):
        raise CorpusError(f"{where}: 'entities.companies' must be a list")
    companies: list[GoldCompany] = []
    for c in companies_raw:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
            raise CorpusError(f"{where}: each company needs a non-empty 'name'")
        forms = _strings(c.get("forms", [c["name"]]), f"forms of {c['name']!r}", where)
        companies.append(GoldCompany(c["name"], tuple(forms)))
    names = {c.name for c in companies}
    events_raw = block.get("events", {})
    if not isinstance(events_raw, dict):
        raise CorpusError(f"{where}: 'entities.events' must be an object")
    events: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for event_type, entry in events_raw.items():
        try:
            validate_type_id(event_type)
        except TaxonomyError as exc:
            raise CorpusError(f"{where}: {exc}") from None
        if not isinstance(entry, dict):
            raise CorpusError(f"{where}: events.{event_type} must be an object")
        involved = _strings(entry.get("companies", []), f"events.{event_type}.companies", where)
        unknown = [n for n in involved if n not in names]
        if unknown:
            raise CorpusError(f"{where}: events.{event_type} names {unknown[0]!r}, which is not in 'companies'")
        markets = _strings(entry.get("markets", []), f"events.{event_type}.markets", where)
        events[event_type] = (tuple(involved), tuple(markets))
    return EntityAnnotation(tuple(companies), events)


def _read_jsonl(path: Path) -> Iterable[tuple[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8 text") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not JSON ({exc.msg})") from None


def _article(obj: dict, where: str) -> Article:
    try:
        return article_from_mapping(obj)
    except ArticleError as exc:
        raise CorpusError(f"{where}: {exc.detail}") from None


def _labels(value: object, where: str) -> tuple[str, ...]:
    labels = _strings(value, "'labels'", where) if value else []
    try:
        return tuple(dict.fromkeys(validate_type_id(x) for x in labels))
    except TaxonomyError as exc:
        raise CorpusError(f"{where}: {exc}") from None


def load_annotated(
    corpus: Sequence[Path] = (DEFAULT_CORPUS_DIR,),
    annotations: Sequence[Path] = (DEFAULT_ENTITIES_DIR,),
    *,
    samples: tuple[Path, Path] | None = (SAMPLES_STREAM, SAMPLES_ANNOTATIONS),
) -> list[AnnotatedArticle]:
    """Every annotated article: corpus lines with an ``entities`` block or an
    annotation line, then the annotated sample-stream articles.

    Raises
    ------
    CorpusError
        Naming file and line: bad JSON or structure, an annotation for an id
        that is not in the corpus, or an id annotated twice.
    """
    articles: dict[str, tuple[Article, tuple[str, ...], str]] = {}
    inline: dict[str, tuple[EntityAnnotation, str]] = {}
    for path in expand_paths(corpus):
        for where, obj in _read_jsonl(path):
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise CorpusError(f"{where}: expected an object with a string 'id'")
            articles[obj["id"]] = (_article(obj, where), _labels(obj.get("labels"), where), where)
            if "entities" in obj:
                inline[obj["id"]] = (parse_entities(obj["entities"], where), where)
    annotated: dict[str, tuple[EntityAnnotation, str]] = dict(inline)
    for path in expand_paths(annotations) if annotations else []:
        for where, obj in _read_jsonl(path):
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise CorpusError(f"{where}: expected an object with a string 'id'")
            if obj["id"] not in articles:
                raise CorpusError(f"{where}: no corpus article has the id {obj['id']!r}")
            if obj["id"] in annotated:
                raise CorpusError(f"{where}: {obj['id']!r} is already annotated at {annotated[obj['id']][1]}")
            annotated[obj["id"]] = (parse_entities(obj.get("entities"), where), where)
    out = [
        AnnotatedArticle(article_id, "corpus", articles[article_id][0], articles[article_id][1], entities)
        for article_id, (entities, _) in annotated.items()
    ]
    if samples is not None:
        out.extend(_load_samples(*samples))
    return out


def _load_samples(stream: Path, annotations: Path) -> list[AnnotatedArticle]:
    raw: dict[str, Article] = {}
    unusable: set[str] = set()  # the stream's deliberately bad records, there to show the dead-letter topic
    for _, obj in _read_jsonl(stream):
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            try:
                raw[obj["id"]] = article_from_mapping(obj)
            except ArticleError:
                unusable.add(obj["id"])
    out = []
    for where, obj in _read_jsonl(annotations):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise CorpusError(f"{where}: expected an object with a string 'id'")
        if obj["id"] in unusable:
            continue
        if obj["id"] not in raw:
            raise CorpusError(f"{where}: no line of {stream} has the id {obj['id']!r}")
        labels = _labels(obj.get("labels"), where)
        out.append(
            AnnotatedArticle(obj["id"], "samples", raw[obj["id"]], labels, parse_entities(obj["entities"], where))
        )
    return out
