"""Labelled JSON Lines files: loading, validation and fingerprinting.

A labelled article is ``{"id", "title"?, "text", "labels": [...]}``, one per
line. Any other fields (``meta``) are kept but ignored by training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsevents.model.taxonomy import TaxonomyError, validate_type_id

#: The project's own training corpus.
DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent / "data" / "corpus"


class CorpusError(ValueError):
    """A labelled file that cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class LabelledArticle:
    id: str
    title: str
    text: str
    labels: tuple[str, ...]


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as their ``*.jsonl`` files (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise CorpusError(f"{path}: no .jsonl files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or folder")
    return files


def _parse_line(line: str, where: str) -> LabelledArticle:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object")
    labels = obj.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise CorpusError(f"{where}: 'labels' must be a list of strings")
    try:
        labels = tuple(dict.fromkeys(validate_type_id(x) for x in labels))
    except TaxonomyError as exc:
        raise CorpusError(f"{where}: {exc}") from None
    title, text = obj.get("title") or "", obj.get("text") or obj.get("body") or ""
    if not isinstance(title, str) or not isinstance(text, str):
        raise CorpusError(f"{where}: 'title' and 'text' must be strings")
    if not (title.strip() or text.strip()):
        raise CorpusError(f"{where}: no title and no text")
    article_id = obj.get("id")
    if not isinstance(article_id, (str, int)) or isinstance(article_id, bool) or str(article_id) == "":
        raise CorpusError(f"{where}: 'id' must be a non-empty string")
    return LabelledArticle(str(article_id), title, text, labels)


def load_labelled(paths: Iterable[Path]) -> list[LabelledArticle]:
    """Read labelled articles from files and folders; ids must be unique."""
    articles: list[LabelledArticle] = []
    seen: dict[str, str] = {}
    for path in expand_paths(paths):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise CorpusError(f"{path}: not UTF-8 text") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            article = _parse_line(line, where)
            if article.id in seen:
                raise CorpusError(f"{where}: duplicate id {article.id!r} (first at {seen[article.id]})")
            seen[article.id] = where
            articles.append(article)
    if not articles:
        raise CorpusError("no labelled articles found")
    return articles


def label_matrix(articles: Sequence[LabelledArticle], taxonomy: Sequence[str]) -> np.ndarray:
    """Binary matrix of shape (n_articles, n_types); labels outside the taxonomy are ignored."""
    index = {t: j for j, t in enumerate(taxonomy)}
    Y = np.zeros((len(articles), len(taxonomy)), dtype=np.int8)
    for i, article in enumerate(articles):
        for label in article.labels:
            if label in index:
                Y[i, index[label]] = 1
    return Y


def fingerprint(articles: Sequence[LabelledArticle]) -> str:
    """SHA-256 over the articles' ids, texts and labels, independent of file order."""
    digest = hashlib.sha256()
    for a in sorted(articles, key=lambda a: a.id):
        digest.update(json.dumps([a.id, a.title, a.text, sorted(a.labels)], ensure_ascii=False).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()
