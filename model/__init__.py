"""newsevents' domain core: cleaning, the event classifier and its artifacts.

Plain Python with no Kafka import, so it can be used, tested and benchmarked
without a broker.
"""

from model.article import Article, ArticleError, Document, parse_article, prepare
from model.artifact import ArtifactError, LoadedModel, load_artifact, save_artifact
from model.classifier import EventClassifier, EventPrediction, Prediction
from model.service import ArticleClassifier
from model.taxonomy import DEFAULT_TAXONOMY

__all__ = [
    "Article", "ArticleClassifier", "ArticleError", "ArtifactError", "DEFAULT_TAXONOMY", "Document",
    "EventClassifier", "EventPrediction", "LoadedModel", "Prediction", "load_artifact", "parse_article",
    "prepare", "save_artifact",
]
