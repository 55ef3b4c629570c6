"""Training-time augmentation: events buried in long, mixed stories.

Hand-written training articles are focused: the event is the story. Real
news often reports an event in one paragraph of a long piece about something
else. :func:`dilute` makes extra training examples that look like that by
joining a labelled article with paragraphs of other articles: unlabelled ones
(the labels stay the same) or labelled ones (the labels are the union, which
also adds multi-label examples). Only ever applied to training data, never to
held-out or evaluation data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from newsevents.training.corpus import LabelledArticle


def _paragraphs(article: LabelledArticle) -> list[str]:
    parts = [p.strip() for p in article.text.split("\n\n") if p.strip()]
    return parts or ([article.title] if article.title else [])


def dilute(
    articles: Sequence[LabelledArticle], *, ratio: float = 1.0, max_donors: int = 3, seed: int = 0
) -> list[LabelledArticle]:
    """``ratio * len(articles)`` synthetic examples (deterministic for a seed).

    Each takes a labelled article (title and all paragraphs) and mixes in the
    paragraphs of one to ``max_donors`` other articles, the article's own block placed
    at a random position. Two in three donors are unlabelled articles.
    """
    rng = random.Random(seed)
    labelled = [a for a in articles if a.labels and a.text.strip()]
    unlabelled = [a for a in articles if not a.labels and a.text.strip()]
    if not labelled or not unlabelled:
        return []
    out = []
    for k in range(int(ratio * len(articles))):
        base = rng.choice(labelled)
        labels = set(base.labels)
        blocks = [_paragraphs(base)]
        for _ in range(rng.randint(1, max_donors)):
            donor = rng.choice(unlabelled) if rng.random() < 2 / 3 else rng.choice(labelled)
            if donor.id == base.id:
                continue
            labels |= set(donor.labels)
            paragraphs = _paragraphs(donor)
            if donor.title and rng.random() < 0.5:
                paragraphs = [donor.title + ".", *paragraphs]
            blocks.append(paragraphs)
        own = blocks.pop(0)
        rng.shuffle(blocks)
        blocks.insert(rng.randint(0, len(blocks)), own)
        text = "\n\n".join(p for block in blocks for p in block)
        out.append(LabelledArticle(f"aug-{k}-{base.id}", base.title, text, tuple(sorted(labels))))
    return out


def dilute_by_group(
    articles: Sequence[LabelledArticle],
    groups: Sequence[int],
    *,
    ratio: float = 1.0,
    max_donors: int = 3,
    seed: int = 0,
) -> tuple[list[LabelledArticle], list[int]]:
    """:func:`dilute` within each group: copies mix only articles of one group.

    Returns the copies and the group of each, so a cross-validation that keeps
    groups together never scores a copy with a model that saw any of its text.
    """
    out: list[LabelledArticle] = []
    out_groups: list[int] = []
    for g in sorted(set(groups)):
        members = [a for a, k in zip(articles, groups, strict=True) if k == g]
        copies = dilute(members, ratio=ratio, max_donors=max_donors, seed=seed + int(g))
        out += copies
        out_groups += [g] * len(copies)
    return out, out_groups
