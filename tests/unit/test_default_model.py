"""The shipped default model on the article the project was specified from."""

from __future__ import annotations

import html

import pytest

from newsevents.model.article import Article, article_from_text
from newsevents.model.service import ArticleClassifier
from newsevents.model.taxonomy import DEFAULT_TAXONOMY

SEED_TYPES = {"partnership", "market_expansion", "anti_counterfeiting"}


@pytest.fixture(scope="module")
def classifier(default_model):
    return ArticleClassifier(default_model)


def _check(result: dict, article_text: str) -> None:
    assert {e["type"] for e in result["events"]} == SEED_TYPES
    assert set(result["scores"]) == set(DEFAULT_TAXONOMY)
    flat = " ".join(article_text.split())
    for event in result["events"]:
        assert 1 <= len(event["evidence"]) <= 3
        for sentence in event["evidence"]:
            assert " ".join(sentence.split()) in flat, sentence
    assert [e["score"] for e in result["events"]] == sorted((e["score"] for e in result["events"]), reverse=True)


def test_seed_article_as_plain_text(classifier, seed_text):
    [result] = classifier.classify([article_from_text(seed_text)])
    _check(result, seed_text)
    assert not any("t.co" in s for e in result["events"] for s in e["evidence"])


def test_seed_article_without_its_boilerplate_tail(classifier, seed_text):
    body = seed_text.split("\nComments\n")[0]
    [result] = classifier.classify([article_from_text(body)])
    _check(result, body)


def test_seed_article_as_html(classifier, seed_text):
    title, _, body = seed_text.partition("\n")
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    page = (
        f"<html><head><script>var tracking = 'alliance partnership';</script><style>p{{}}</style></head>"
        f"<body><nav>Home | Retail | Subscribe</nav><article><h1>{html.escape(title)}</h1>{paragraphs}"
        f"</article><div id='comments'>Comments: great deal!</div></body></html>"
    )
    [result] = classifier.classify([Article(id="seed-html", html=page)])
    _check(result, seed_text)


def test_manifest_describes_the_shipped_model(default_model):
    manifest = default_model.manifest
    assert manifest["taxonomy"] == list(DEFAULT_TAXONOMY)
    assert manifest["training_data"]["fingerprint"].startswith("sha256:")
    assert manifest["metrics"]["held_out"]["macro_f1"] > manifest["metrics"]["baseline_held_out_macro_f1"]


def test_shipped_model_was_trained_on_the_shipped_corpus(default_model):
    from newsevents.training.corpus import DEFAULT_CORPUS_DIR, fingerprint, load_labelled

    assert default_model.manifest["training_data"]["fingerprint"] == fingerprint(load_labelled([DEFAULT_CORPUS_DIR]))
