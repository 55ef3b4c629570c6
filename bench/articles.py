"""Realistic benchmark articles (~2 KB each) built from the project's own corpus.

Short corpus articles are extended with paragraphs of other articles until
they reach the target size, so the text is real prose of the kind the model
sees; a quarter of them carry scraped-page boilerplate, as real feeds do.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from newsevents.training.corpus import DEFAULT_CORPUS_DIR, load_labelled

_BOILERPLATE = (
    "\n\nComments\n\nComment Manually\n\nTwitter\n\n"
    "Retail footfall rose again this week, new figures show https://t.co/abc123XYZ\n\n3 hours ago\n\n"
    "Five things to watch in grocery this winter https://t.co/def456UVW\n\n9 hours ago"
)


def bench_articles(n: int, *, size: int = 2048, seed: int = 7) -> list[dict]:
    """``n`` raw-article dicts (``id``, ``title``, ``text``) of about ``size`` bytes."""
    rng = random.Random(seed)
    corpus = [a for a in load_labelled([DEFAULT_CORPUS_DIR]) if a.text]
    paragraphs = [p for a in corpus for p in a.text.split("\n\n") if len(p) > 80]
    out = []
    for i in range(n):
        base = corpus[i % len(corpus)]
        text = base.text
        while len(text.encode()) < size - 200:
            text += "\n\n" + rng.choice(paragraphs)
        if i % 4 == 3:
            text += _BOILERPLATE
        text = text.encode()[:size].decode("utf-8", "ignore")
        out.append({"id": f"bench-{i}", "title": base.title, "text": text, "source": "bench"})
    return out


def bench_payloads(n: int, *, size: int = 2048) -> list[bytes]:
    """The same articles as raw-topic payloads (UTF-8 JSON)."""
    return [json.dumps(a, ensure_ascii=False).encode() for a in bench_articles(n, size=size)]


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    lines = b"\n".join(bench_payloads(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)) + b"\n"
    (target.write_bytes(lines) if target else sys.stdout.buffer.write(lines))
