"""Model-only throughput: batched vs one article at a time, in one run.

Measures ``ArticleClassifier.classify`` end to end (cleaning, sentence
splitting, scoring, evidence and message building) on ~2 KB articles, pinned
to one core with BLAS limited to one thread. Prints medians over repeats and
the batched / one-at-a-time ratio, then the stages on their own (cleaning and
splitting, scoring and evidence, the company and market extractor), and the
worst case of text handling over the hostile inputs of ``bench/hostile.py``
(ms per 100 KB, against ordinary prose in the same run). With ``--baseline DIR``
it also times another artifact (an older model) against this model's event
classifier (the company extractor left out, as older models have none) on the
same articles, alternating the two run by run, and prints the ratio of their
batched throughputs; ``--baseline-rev REV`` loads that artifact with the classifier
code of a git revision (a model saved before the classifier changed shape).

    python bench/bench_model.py [--model DIR] [--baseline DIR [--baseline-rev REV]] [--articles 2000] [--batch 500]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import joblib
from threadpoolctl import threadpool_limits

from bench.articles import bench_articles
from bench.hostile import worst_case
from bench.processes import pin_one_core
from newsevents.config import Settings
from newsevents.model.article import article_from_mapping, prepare
from newsevents.model.artifact import LoadedModel, load_artifact
from newsevents.model.service import ArticleClassifier

# The modules a pickled classifier refers to, in import order.
_CLASSIFIER_MODULES = (
    ("newsevents.model.features", "model/features.py"),
    ("newsevents.model.classifier", "model/classifier.py"),
)


def load_with_code(directory: Path, rev: str) -> LoadedModel:
    """A trusted local artifact unpickled with the classifier code of git revision ``rev``.

    The revision's modules stand in for the current ones only while the file
    is read; the object keeps them, so it predicts with the code it was made by.
    """
    repo = Path(__file__).resolve().parent.parent
    saved = {name: sys.modules[name] for name, _ in _CLASSIFIER_MODULES}
    try:
        for name, path in _CLASSIFIER_MODULES:
            source = subprocess.run(
                ["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, text=True, check=True
            ).stdout
            module = types.ModuleType(name)
            sys.modules[name] = module
            exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        classifier = joblib.load(directory / manifest.get("model_file", "model.joblib"))
    finally:
        sys.modules.update(saved)
    return LoadedModel(classifier, manifest, directory)


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
    parser.add_argument("--baseline", type=Path, help="another artifact to time side by side (batched)")
    parser.add_argument("--baseline-rev", help="git revision whose classifier code loads --baseline")
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
        if args.baseline is not None:
            baseline = ArticleClassifier(
                load_with_code(args.baseline, args.baseline_rev) if args.baseline_rev else load_artifact(args.baseline)
            )
            baseline.classify(articles[:100])  # warm-up
            # The event classifier alone, as the baseline has no company extractor;
            # the whole classify path is the batched figure above.
            events_only = ArticleClassifier(dataclasses.replace(classifier.model, entities=None))
            # Alternate the two models run by run, so a noisy neighbour slows both alike.
            pairs = [
                (measure_batched(baseline, articles, args.batch), measure_batched(events_only, articles, args.batch))
                for _ in range(args.repeats)
            ]

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
    if args.baseline is not None:
        old, new = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        ratios = [n / o for o, n in pairs]
        print(
            f"side by side, batched, event classifier only: baseline {baseline.version} median {old:.0f}/s, "
            f"this model median {new:.0f}/s; ratio {new / old:.2f} "
            f"(per run: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
