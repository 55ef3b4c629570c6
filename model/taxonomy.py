"""The event taxonomy: which event types a model tags.

The default taxonomy is the public contract of ``labeling-guide.md``: its ids
appear in messages, topic names (``news.events.<id>``) and training files. A
custom taxonomy is simply the sorted set of labels found in a user's training
data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_TAXONOMY: tuple[str, ...] = (
    "partnership",
    "anti_counterfeiting",
    "market_expansion",
    "acquisition",
    "product_launch",
    "earnings",
    "leadership_change",
    "layoffs_restructuring",
    "funding",
    "legal_regulatory",
)


# Type ids become Kafka topic names, so they must be safe there.
_TYPE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


class TaxonomyError(ValueError):
    """A label that cannot be an event type id."""


def is_type_id(value: object) -> bool:
    """Whether ``value`` is a string usable as an event type id."""
    return isinstance(value, str) and _TYPE_ID.fullmatch(value) is not None


def validate_type_id(type_id: str) -> str:
    """Return ``type_id`` if it is a usable event type id, else raise TaxonomyError."""
    if not is_type_id(type_id):
        raise TaxonomyError(
            f"invalid event type {type_id!r}: use lower-case letters, digits and '_' (it becomes part of a topic name)"
        )
    return type_id


def taxonomy_from_labels(label_sets: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The taxonomy implied by training labels: the types seen, in the default
    order when they all belong to the default taxonomy, else sorted."""
    seen: set[str] = set()
    for labels in label_sets:
        seen.update(validate_type_id(label) for label in labels)
    if seen <= set(DEFAULT_TAXONOMY):
        return tuple(t for t in DEFAULT_TAXONOMY if t in seen)
    return tuple(sorted(seen))
