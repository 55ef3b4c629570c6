"""The published JSON Schemas (docs/schemas), for tests to validate every value they see."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
KINDS = ("classified", "deadletter", "stats")


@cache
def validator(kind: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(message: object, kind: str) -> None:
    """Fail with every violation listed when ``message`` does not match the ``kind`` schema."""
    errors = sorted(validator(kind).iter_errors(message), key=lambda e: list(e.absolute_path))
    assert not errors, f"{kind} message violates its schema:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors
    )


def kind_of_topic(topic: str) -> str | None:
    """Which schema a topic's values follow (None for topics we do not publish)."""
    if topic.endswith(".articles.classified"):
        return "classified"
    if topic.endswith(".articles.deadletter"):
        return "deadletter"
    if topic.endswith(".events.stats"):
        return "stats"
    if ".events." in topic:
        return "classified"
    return None
