"""newsevents' domain core: cleaning, the event classifier and its artifacts, stories.

Plain Python with no Kafka import, so it can be used, tested and benchmarked
without a broker.
"""

from newsevents.model.article import Article, ArticleError, Document, parse_article, prepare
from newsevents.model.artifact import ArtifactError, LoadedModel, load_artifact, save_artifact
from newsevents.model.classifier import EventClassifier, EventPrediction, Prediction
from newsevents.model.service import ArticleClassifier
from newsevents.model.stories import StoryAssignment, StoryError, StoryIndex, StorySignature, story_signature
from newsevents.model.taxonomy import DEFAULT_TAXONOMY

__all__ = [
    "DEFAULT_TAXONOMY",
    "Article",
    "ArticleClassifier",
    "ArticleError",
    "ArtifactError",
    "Document",
    "EventClassifier",
    "EventPrediction",
    "LoadedModel",
    "Prediction",
    "StoryAssignment",
    "StoryError",
    "StoryIndex",
    "StorySignature",
    "load_artifact",
    "parse_article",
    "prepare",
    "save_artifact",
    "story_signature",
]
