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

DESCRIPTIONS: dict[str, str] = {
    "partnership": "alliance, joint venture, collaboration, co-branding or a deal between companies",
    "anti_counterfeiting": "seizures of fakes, lawsuits against counterfeiters, brand-protection programmes",
    "market_expansion": "entering a country, region or channel that is new to the company",
    "acquisition": "merger, takeover, buyout or purchase of a company, brand or stake",
    "product_launch": "a new product, collection, service or programme launched or unveiled",
    "earnings": "reported results, sales figures, trading updates, guidance changes",
    "leadership_change": "an executive appointed, promoted, resigning, retiring or ousted",
    "layoffs_restructuring": "job cuts, closure programmes, restructuring, administration or bankruptcy",
    "funding": "venture round, private investment raised, IPO filing, pricing or debut",
    "legal_regulatory": "lawsuits, settlements, fines, regulatory rulings (not counterfeiting)",
}

# Type ids become Kafka topic names, so they must be safe there.
_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class TaxonomyError(ValueError):
    """A label that cannot be an event type id."""


def validate_type_id(type_id: str) -> str:
    """Return ``type_id`` if it is a usable event type id, else raise TaxonomyError."""
    if not isinstance(type_id, str) or not _TYPE_ID.match(type_id):
        raise TaxonomyError(
            f"invalid event type {type_id!r}: use lower-case letters, digits and '_' "
            "(it becomes part of a topic name)"
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
