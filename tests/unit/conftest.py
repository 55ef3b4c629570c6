from __future__ import annotations

import pytest

from newsevents.model.article import Article, prepare
from newsevents.model.classifier import EventClassifier
from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from newsevents.training.corpus import DEFAULT_CORPUS_DIR, label_matrix, load_labelled


@pytest.fixture(scope="session")
def corpus():
    return load_labelled([DEFAULT_CORPUS_DIR])


@pytest.fixture(scope="session")
def fitted(corpus) -> EventClassifier:
    """A classifier fitted on the project corpus with fixed settings (no search)."""
    docs = [prepare(Article(id=a.id, title=a.title, text=a.text)).sentences for a in corpus]
    Y = label_matrix(corpus, DEFAULT_TAXONOMY)
    return EventClassifier(taxonomy=DEFAULT_TAXONOMY, cv=3).fit(docs, Y)


@pytest.fixture
def artifact_dir(tmp_path, fitted):
    from newsevents.model.artifact import save_artifact

    save_artifact(fitted, tmp_path / "model", name="test-model", data_fingerprint="sha256:test")
    return tmp_path / "model"
