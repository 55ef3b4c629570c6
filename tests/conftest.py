"""Shared fixtures: paths to the seed article and the external datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEED = SHARED / "seed" / "tapestry-tmall-alliance.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def seed_text() -> str:
    if not SEED.exists():
        pytest.skip("../shared/seed is not present (a user's clone has no ../shared)")
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def default_model():
    from newsevents.config import DEFAULT_MODEL_DIR
    from newsevents.model.artifact import load_artifact

    return load_artifact(DEFAULT_MODEL_DIR)
