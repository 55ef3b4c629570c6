"""Real labelled news from public datasets (../shared/datasets), when present.

A sanity check of generalisation, not a target: the model must do better than
the keyword rules on biotech press releases it has never seen in any form.
"""

import pytest

from newsevents.training.evaluate import evaluate_external
from newsevents.training.external import find_datasets_dir, load_external


@pytest.fixture(scope="module")
def datasets_dir():
    path = find_datasets_dir()
    if path is None:
        pytest.skip("../shared/datasets is not present")
    return path


def test_mapped_datasets_load(datasets_dir):
    sets = {s.name: s for s in load_external(datasets_dir)}
    assert len(sets["knowledgator-biotech"].articles) == 381
    assert len(sets["sentivent"].articles) == 288
    assert any(a.labels for a in sets["sentivent"].articles)


def test_model_beats_keyword_rules_on_unseen_press_releases(default_model, datasets_dir):
    results = {r["dataset"]: r for r in evaluate_external(default_model, datasets_dir)}
    biotech = results["knowledgator-biotech"]
    assert biotech["scores"]["micro_f1"] > biotech["baseline"]["micro_f1"]
