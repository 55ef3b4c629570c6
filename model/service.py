"""Articles in, classified messages out: the batch API the stream and CLI share."""

from __future__ import annotations

from collections.abc import Sequence

from newsevents.model.article import Article, prepare
from newsevents.model.artifact import LoadedModel
from newsevents.model.messages import classified_message, utc_now


class ArticleClassifier:
    """Classify batches of :class:`Article` with a loaded model.

    ``classify`` returns one ``news.articles.classified`` value per article,
    in order. Articles that cannot be classified (no text after cleaning, not
    English) get no events and a ``reason``.
    """

    def __init__(self, model: LoadedModel, *, max_evidence: int = 3) -> None:
        self.model = model
        self.max_evidence = max_evidence
        self.taxonomy = [str(t) for t in model.classifier.classes_]

    @property
    def version(self) -> str:
        return self.model.version

    def classify(self, articles: Sequence[Article]) -> list[dict]:
        documents = [prepare(a) for a in articles]
        ready = [i for i, d in enumerate(documents) if d.reason is None]
        predictions = (
            dict(
                zip(
                    ready,
                    self.model.classifier.classify(
                        [documents[i].sentences for i in ready], max_evidence=self.max_evidence
                    ),
                    strict=True,
                )
            )
            if ready
            else {}
        )
        now = utc_now()
        return [
            classified_message(
                article,
                predictions.get(i),
                taxonomy=self.taxonomy,
                model_name=self.model.name,
                model_version=self.model.version,
                reason=documents[i].reason,
                processed_at=now,
            )
            for i, article in enumerate(articles)
        ]
