"""Model-only throughput: batched vs one article at a time, in one run.

Measures ``ArticleClassifier.classify`` end to end (cleaning, sentence
splitting, scoring, evidence and message building) on ~2 KB articles, pinned
to one core with BLAS limited to one thread. Prints medians over repeats and
the batched / one-at-a-time ratio, then the stages on their own (cleaning and
splitting, scoring and evidence, the company and market extractor), and the
worst case of text handling over the hostile inputs of ``bench/hostile.py``
(ms per 100 KB, against ordinary prose in the same run).

    python bench/bench_model.py [--model DIR] [--articles 2000] [--batch 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from threadpoolctl import threadpool_limits

from bench.articles import bench_articles
from bench.hostile import worst_case
from newsevents.config import Settings
from newsevents.model.article import article_from_mapping, prepare
from newsevents.model.artifact import load_artifact
from newsevents.model.service import ArticleClassifier


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"core {core}"
    return "unpinned"


def measure_batched(classifier: ArticleClassifier, articles: list, batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(articles), batch):
        classifier.classify(articles[i : i + batch])
    return len(articles) / (time.perf_counter() - start)


def measure_single(classifier: ArticleClassifier, articles: list) -> float:
    start = time.perf_counter()
    for article in articles:
        classifier.classify([article])
    return len(articles) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_path)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=400, help="articles for the one-at-a-time run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    where = pin_one_core()
    classifier = ArticleClassifier(load_artifact(args.model))
    articles = [article_from_mapping(a) for a in bench_articles(args.articles)]
    mean_bytes = sum(len(a.text.encode()) for a in articles) / len(articles)
    with threadpool_limits(limits=1):
        classifier.classify(articles[:100])  # warm-up
        batched = [measure_batched(classifier, articles, args.batch) for _ in range(args.repeats)]
        single = [measure_single(classifier, articles[: args.single]) for _ in range(args.repeats)]
        prep_runs = []
        for _ in range(args.repeats):  # CPU time: other processes on a shared machine do not count
            start = time.process_time()
            docs = [prepare(a) for a in articles]
            prep_runs.append(len(articles) / (time.process_time() - start))
        start = time.perf_counter()
        predictions = classifier.model.classifier.classify([d.sentences for d in docs])
        model_only = time.perf_counter() - start
        extractor = classifier.model.entities
        sentences = [d.sentences for d in docs]
        events = [p.events for p in predictions]
        entity_runs = []
        if extractor is not None:
            extractor.extract(sentences[:100], events[:100])  # warm-up
            for _ in range(args.repeats):
                start = time.perf_counter()
                for i in range(0, len(docs), args.batch):
                    extractor.extract(sentences[i : i + args.batch], events[i : i + args.batch])
                entity_runs.append(time.perf_counter() - start)
        worst = worst_case(repeats=3)

    b, s = statistics.median(batched), statistics.median(single)
    print(f"model {classifier.version}; {len(articles)} articles, mean {mean_bytes:.0f} bytes; {where}, 1 BLAS thread")
    print(
        f"batched ({args.batch}/call):   median {b:8.0f} articles/s   (runs: {', '.join(f'{x:.0f}' for x in batched)})"
    )
    print(f"one at a time:       median {s:8.0f} articles/s   (runs: {', '.join(f'{x:.0f}' for x in single)})")
    print(f"batched / one-at-a-time: {b / s:.1f}x")
    p = statistics.median(prep_runs)
    ordinary_ms = 1000 / p * 100_000 / mean_bytes  # the benchmark articles, per 100 KB
    runs = ", ".join(f"{x:.0f}" for x in prep_runs)
    print(f"cleaning+splitting:  median {p:8.0f} articles per CPU second (runs: {runs})")
    print(f"scoring+evidence, one pass: {len(articles) / model_only:.0f}/s")
    name, stage, ms = worst[0]
    print(
        f"worst case, text handling: {ms:.1f} CPU ms per 100 KB ({stage}, {name}; budget about 50); "
        f"the benchmark articles {ordinary_ms:.1f} CPU ms per 100 KB; ratio {ms / ordinary_ms:.1f}x"
    )
    if entity_runs:
        entities = statistics.median(entity_runs)
        print(
            f"companies+markets ({args.batch}/call): median {1000 * entities / len(articles):.3f} ms/article, "
            f"{len(articles) / entities:.0f}/s = {entities / model_only:.2f}x scoring+evidence "
            f"(runs: {', '.join(f'{1000 * x / len(articles):.3f}' for x in entity_runs)} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
