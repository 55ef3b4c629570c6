"""Articles in, classified messages out: the batch API the stream and CLI share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsevents.model.article import Article, prepare
from newsevents.model.artifact import LoadedModel
from newsevents.model.entities import ArticleEntities
from newsevents.model.messages import classified_message, utc_now
from newsevents.model.stories import StorySignature, story_signature


@dataclass(frozen=True, slots=True)
class ClassifiedArticle:
    """One article's ``news.articles.classified`` value (without its story fields) and its story signature.

    ``signature`` is None when the article had no text to compare (it is then
    a story of its own).
    """

    message: dict
    signature: StorySignature | None


class ArticleClassifier:
    """Classify batches of :class:`Article` with a loaded model.

    :meth:`analyse` returns, per article and in order, its classified value
    (events with scores, evidence and companies; every type's score; the
    companies it names) and the signature that groups copies into stories.
    Articles that cannot be classified (no text after cleaning, not English)
    get no events and a ``reason``.
    """

    def __init__(self, model: LoadedModel, *, max_evidence: int = 3) -> None:
        self.model = model
        self.max_evidence = max_evidence
        self.taxonomy = [str(t) for t in model.classifier.classes_]

    @property
    def version(self) -> str:
        return self.model.version

    def analyse(self, articles: Sequence[Article]) -> list[ClassifiedArticle]:
        documents = [prepare(a) for a in articles]
        ready = [i for i, d in enumerate(documents) if d.reason is None]
        sentences = [documents[i].sentences for i in ready]
        predictions = self.model.classifier.classify(sentences, max_evidence=self.max_evidence) if ready else []
        entities: list[ArticleEntities | None] = [None] * len(ready)
        if self.model.entities is not None and ready:
            entities = list(self.model.entities.extract(sentences, [p.events for p in predictions]))
        by_index = {i: (p, e) for i, p, e in zip(ready, predictions, entities, strict=True)}
        now = utc_now()
        out = []
        for i, (article, document) in enumerate(zip(articles, documents, strict=True)):
            prediction, found = by_index.get(i, (None, None))
            message = classified_message(
                article,
                prediction,
                taxonomy=self.taxonomy,
                model_name=self.model.name,
                model_version=self.model.version,
                reason=document.reason,
                processed_at=now,
                entities=found,
            )
            signature = story_signature(document.sentences) if document.sentences else None
            out.append(ClassifiedArticle(message, signature))
        return out

    def classify(self, articles: Sequence[Article]) -> list[dict]:
        """The classified values alone (no story fields), in order."""
        return [a.message for a in self.analyse(articles)]
