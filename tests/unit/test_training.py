"""Training: augmentation that never leaks across folds, and the report a user reads."""

from __future__ import annotations

import json

import pytest

from newsevents.model.taxonomy import TaxonomyError, taxonomy_from_labels
from newsevents.training.augment import dilute_by_group
from newsevents.training.corpus import LabelledArticle


def _article(i: int, labels: tuple[str, ...]) -> LabelledArticle:
    text = f"Paragraph one of article {i}.\n\nParagraph two of article {i}."
    return LabelledArticle(f"a{i}", f"Title {i}", text, labels)


def test_diluted_copies_only_mix_articles_of_their_group():
    articles = [_article(i, ("earnings",) if i % 3 else ()) for i in range(60)]
    groups = [i % 4 for i in range(60)]
    copies, copy_groups = dilute_by_group(articles, groups, ratio=2.0, max_donors=5, seed=1)
    assert len(copies) == len(copy_groups) >= 100
    for copy, group in zip(copies, copy_groups, strict=True):
        used = {int(word) for word in copy.text.replace(".", " ").split() if word.isdigit()}
        assert used and all(groups[i] == group for i in used), (copy.id, used, group)


def test_training_writes_a_model_and_a_report_on_long_articles(tmp_path, corpus):
    from newsevents.model.artifact import load_artifact
    from newsevents.training.train import train

    # A small but complete corpus: every type, some long articles, some with no type.
    subset = [a for i, a in enumerate(corpus) if i % 4 == 0]
    data = tmp_path / "corpus.jsonl"
    data.write_text(
        "\n".join(json.dumps({"id": a.id, "title": a.title, "text": a.text, "labels": list(a.labels)}) for a in subset)
    )
    result = train([data], tmp_path / "model", tmp_path / "report", folds=2, grid=({"C": 4.0},), augment=1.0)
    report = result.report
    assert report["held_out_long"]["n_articles"] > 0
    assert set(report["threshold_tradeoff"]) == set(report["taxonomy"])
    for row in report["threshold_tradeoff"].values():
        assert row["lower"]["threshold"] < row["chosen"]["threshold"] < row["higher"]["threshold"]
        assert row["lower"]["recall"] >= row["chosen"]["recall"] >= row["higher"]["recall"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Precision/recall trade-off per type" in markdown
    assert "Held-out split, the way real news looks" in markdown
    assert load_artifact(tmp_path / "model").classifier.thresholds_.shape == (len(report["taxonomy"]),)


@pytest.mark.parametrize(
    "label", ["Partnership", "partner ship", "supply-chain", "9lives", "", "partnership\n", "a" * 65]
)
def test_a_label_that_cannot_be_a_topic_name_is_refused(label):
    # Type ids become Kafka topic names (news.events.<id>), so a label with a
    # trailing newline or an upper-case letter must never reach one.
    with pytest.raises(TaxonomyError, match="invalid event type"):
        taxonomy_from_labels([["funding"], [label]])


def test_labels_in_the_default_taxonomy_keep_its_order():
    assert taxonomy_from_labels([["funding"], ["partnership", "earnings"]]) == ("partnership", "earnings", "funding")
