"""The ``newsevents`` command line: one entry point, one sub-command per job.

Errors a user can fix print one line on stderr and exit non-zero, without a
traceback (``NEWSEVENTS_DEBUG=1`` shows it). Heavy imports happen inside each
command so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from newsevents import __version__
from newsevents.config import ConfigError, Settings, default_cache_dir


class UsageError(Exception):
    """Unusable arguments: exit code 2."""


class CommandError(Exception):
    """A command that could not do its job: exit code 1."""


# -- classify -----------------------------------------------------------------
def _whole_file_format(path: Path | None, requested: str) -> str:
    if requested != "auto":
        return requested
    if path is not None and path.suffix.lower() in (".txt", ".text", ".md"):
        return "text"
    if path is not None and path.suffix.lower() in (".html", ".htm"):
        return "html"
    return "lines"


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.model.article import Article, ArticleError, article_from_text, parse_article
    from newsevents.model.artifact import ArtifactError, load_artifact
    from newsevents.model.messages import encode, with_story
    from newsevents.model.service import ArticleClassifier
    from newsevents.model.stories import StoryIndex

    path = Path(args.file) if args.file and args.file != "-" else None
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        classifier = ArticleClassifier(load_artifact(settings.model_path))
    except ArtifactError as exc:
        raise UsageError(f"cannot use model: {exc}") from None
    out = sys.stdout.buffer
    fmt = _whole_file_format(path, args.format)
    # Copies within one run are grouped like the worker groups them (one input is one moment).
    stories = StoryIndex(window=settings.story_window_hours * 3600)
    now = time.time()

    def classified(articles: list[Article]) -> list[dict]:
        values = []
        for done in classifier.analyse(articles):
            message = done.message
            story = stories.assign(message["id"], done.signature, now)
            values.append(with_story(message, story.story_id, story.duplicate))
        return values

    with open(path, "rb") if path else contextlib.nullcontext(sys.stdin.buffer) as stream:
        if fmt in ("text", "html"):
            data = stream.read(settings.max_article_bytes + 1)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.write(encode({"error": "invalid_utf8", "detail": f"input is not UTF-8 ({exc.reason})"}) + b"\n")
                return 0
            if len(data) > settings.max_article_bytes:
                out.write(
                    encode({"error": "oversized", "detail": f"input is over {settings.max_article_bytes:,} bytes"})
                    + b"\n"
                )
                return 0
            if not text.strip():
                out.write(encode({"error": "no_text", "detail": "the input is empty"}) + b"\n")
                return 0
            name = path.stem if path else "stdin"
            article = Article(id=name, html=text) if fmt == "html" else replace(article_from_text(text), id=name)
            out.write(encode(classified([article])[0]) + b"\n")
            return 0
        # JSON Lines: answer in order, classifying in batches for speed.
        pending: list[tuple[int, Article | dict]] = []  # (line number, Article or error dict)

        def flush() -> None:
            articles = [item for _, item in pending if isinstance(item, Article)]
            results = iter(classified(articles)) if articles else iter(())
            for _, item in pending:
                value = next(results) if isinstance(item, Article) else item
                out.write(encode(value) + b"\n")
            out.flush()
            pending.clear()

        for number, line in enumerate(_read_lines(stream, settings.max_article_bytes), 1):
            if isinstance(line, Exception):
                pending.append((number, {"error": "oversized", "line": number, "detail": str(line)}))
            else:
                try:
                    pending.append((number, parse_article(line.rstrip(b"\r\n"), max_bytes=settings.max_article_bytes)))
                except ArticleError as exc:
                    pending.append((number, {"error": exc.code, "line": number, "detail": exc.detail}))
            if len(pending) >= args.batch_size:
                flush()
        flush()
    return 0


class _LineTooLong(Exception):
    pass


def _read_lines(stream, limit: int):
    """Yield each line as bytes; a line over ``limit`` bytes yields an error
    and is skipped without being held in memory."""
    while True:
        line = stream.readline(limit + 2)
        if not line:
            return
        if len(line.rstrip(b"\r\n")) > limit:
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield _LineTooLong(f"line is over the limit of {limit:,} bytes")
            continue
        yield line


# -- train / evaluate ---------------------------------------------------------
def _console():
    from rich.console import Console

    return Console(stderr=True)


def _steps(console):
    """A rich progress bar per long step (shown on a terminal, summarised otherwise)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def step(label: str, total: int):
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        task = progress.add_task(label, total=total)
        progress.start()
        done = [0]

        def advance() -> None:
            done[0] += 1
            progress.advance(task)
            if done[0] >= total:
                progress.stop()

        return advance

    return step


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.training.corpus import DEFAULT_CORPUS_DIR, CorpusError
    from newsevents.training.train import summary_line, train

    console = _console()
    paths = [Path(p) for p in args.data] or [DEFAULT_CORPUS_DIR]
    try:
        result = train(
            paths,
            Path(args.output),
            Path(args.report_dir or Path(args.output) / "report"),
            name=args.name,
            seed=args.seed,
            test_size=args.test_size,
            folds=args.folds,
            refit_all=not args.no_refit,
            datasets_dir=Path(args.datasets) if args.datasets else None,
            step=_steps(console),
            say=lambda m: console.print(f"[bold]train[/bold] {m}"),
        )
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    for path in result.report_paths:
        console.print(f"[bold]train[/bold] wrote {path}")
    console.print(f"[bold]train[/bold] model {result.model.version} written to {args.output}")
    print(summary_line(result.report))
    return 0


def cmd_convert_model(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.model.artifact import ArtifactError, convert_legacy, manifest_sha256

    source = Path(args.artifact)
    target = Path(args.output) if args.output else source
    try:
        manifest = convert_legacy(source, target)
    except ArtifactError as exc:
        raise UsageError(str(exc)) from None
    print(f"converted {source} to a skops artifact in {target} (version {manifest['version']})", file=sys.stderr)
    print(f"NEWSEVENTS_MODEL_SHA256={manifest_sha256(target)}")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.model.artifact import ArtifactError, load_artifact
    from newsevents.training.corpus import CorpusError
    from newsevents.training.evaluate import evaluate_external, evaluate_file
    from newsevents.training.external import find_datasets_dir

    try:
        model = load_artifact(settings.model_path)
    except ArtifactError as exc:
        raise UsageError(f"cannot use model: {exc}") from None
    results = []
    try:
        if args.data:
            results.append(evaluate_file(model, [Path(p) for p in args.data]))
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    datasets = find_datasets_dir(Path(args.datasets) if args.datasets else None)
    if args.datasets and datasets is None:
        raise UsageError(f"{args.datasets}: no known dataset files there")
    if datasets is not None and (args.datasets or not args.data):
        results.extend(evaluate_external(model, datasets))
    if not results:
        raise UsageError("nothing to evaluate: give labelled JSON Lines files, or --datasets DIR")
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        s, b = r["scores"], r["baseline"]
        print(f"\n{r['dataset']}: {s['n_articles']} articles, model {r['model']['version']}")
        if r.get("note"):
            print(f"  note: {r['note']}")
        print(f"  {'type':<24}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}{'rules F1':>10}")
        for t, v in s["per_type"].items():
            print(
                f"  {t:<24}{v['precision']:>10.3f}{v['recall']:>8.3f}{v['f1']:>8.3f}{v['support']:>9}"
                f"{b['per_type'][t]['f1']:>10.3f}"
            )
        print(
            f"  micro-F1 {s['micro_f1']:.3f}  macro-F1 {s['macro_f1']:.3f}   "
            f"(keyword rules: micro {b['micro_f1']:.3f}, macro {b['macro_f1']:.3f})"
        )
    return 0


# -- Kafka commands -----------------------------------------------------------
def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.streams.worker import run_worker

    return run_worker(settings, loglevel=args.loglevel)


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.streams.broker import KAFKA_VERSION, BrokerError, JarError, ensure_kafka_jars, find_java, run_broker

    version = args.kafka_version or KAFKA_VERSION
    try:
        if args.fetch_only:
            libs = ensure_kafka_jars(default_cache_dir(), version, repository=settings.maven_url)
            print(f"Apache Kafka {version} jars ready in {libs}")
            try:
                print(f"The broker will run on {find_java()}")
            except BrokerError as exc:
                print(f"newsevents: warning: {exc}", file=sys.stderr)
            return 0
        return run_broker(
            data_dir=Path(args.data_dir) if args.data_dir else None,
            port=args.port,
            version=version,
            cache_dir=default_cache_dir(),
            repository=settings.maven_url,
        )
    except (BrokerError, JarError) as exc:
        raise CommandError(str(exc)) from None


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.streams.produce import produce

    return produce(settings, [Path(p) for p in args.paths], topic=args.topic, raw=args.raw, rate=args.rate)


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.streams.tail import tail

    return tail(
        settings,
        args.topics,
        as_json=args.json,
        from_beginning=args.from_beginning,
        max_messages=args.max,
        idle_timeout=args.timeout,
    )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from newsevents.streams.demo import SAMPLE_STREAM, run_demo

    sample = Path(args.sample) if args.sample else SAMPLE_STREAM
    if not sample.is_file():
        raise UsageError(f"{sample}: no such file")
    return run_demo(settings, sample=sample, rate=args.rate, duration=args.duration)


# -- parser -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsevents",
        description="Streaming news event classifier: Kafka in, tagged events out.",
    )
    parser.add_argument("--version", action="version", version=f"newsevents {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str, func):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add(
        "classify", "Classify articles without Kafka (JSON Lines or text in, classified JSON Lines out).", cmd_classify
    )
    p.add_argument("file", nargs="?", help="input file (default: stdin); .txt/.html files are one article")
    p.add_argument("--model", help="model artifact folder (env NEWSEVENTS_MODEL; default: the installed model)")
    p.add_argument(
        "--format",
        choices=("auto", "lines", "text", "html"),
        default="auto",
        help="lines: one article per line (JSON object or text); text/html: the whole input is one "
        "article (default: by file extension, lines for stdin)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="articles classified per batch (default 256)")

    p = add("train", "Train a model from labelled JSON Lines and write an artifact and a report.", cmd_train)
    p.add_argument("data", nargs="*", help="labelled .jsonl files or folders (default: training/data/corpus)")
    p.add_argument("--output", "-o", default="artifacts/model", help="artifact folder (default artifacts/model)")
    p.add_argument("--report-dir", help="report folder (default OUTPUT/report)")
    p.add_argument("--name", default="newsevents-default", help="model name in the manifest")
    p.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out fraction (default 0.2)")
    p.add_argument("--folds", type=int, default=4, help="cross-validation folds for model selection (default 4)")
    p.add_argument("--no-refit", action="store_true", help="ship the split model instead of refitting on all data")
    p.add_argument("--datasets", help="folder of external validation datasets to score too")

    p = add("evaluate", "Score a model on labelled JSON Lines and/or the external validation datasets.", cmd_evaluate)
    p.add_argument("data", nargs="*", help="labelled .jsonl files or folders")
    p.add_argument("--model", help="model artifact folder (default: the installed model)")
    p.add_argument("--datasets", help="folder with the external datasets (default: ../shared/datasets if present)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(
        "convert-model",
        "Rewrite an artifact of the old joblib format (which runs code when loaded) as a skops artifact. "
        "Only for an artifact you trust.",
        cmd_convert_model,
    )
    p.add_argument("artifact", help="the old artifact's folder")
    p.add_argument("--output", "-o", help="where to write the new artifact (default: in place)")

    p = add("worker", "Run the Faust stream worker.", cmd_worker)
    p.add_argument("--broker", help="bootstrap servers (env NEWSEVENTS_BROKER, default kafka://localhost:9092)")
    p.add_argument("--model", help="model artifact folder, hot-reloaded when it changes")
    p.add_argument("--topic-prefix", help="topic prefix (env NEWSEVENTS_TOPIC_PREFIX, default news)")
    p.add_argument("--partitions", type=int, help="partitions of the topics the worker creates (default 4)")
    p.add_argument("--batch-size", type=int, help="max articles per model batch (default 500)")
    p.add_argument("--web-port", type=int, help="port of /stats, /health, /metrics and the dashboard (default 6066)")
    p.add_argument("--web-host", help="address the web server binds (default 127.0.0.1)")
    p.add_argument("--loglevel", "-l", default="info", choices=("crit", "error", "warn", "info", "debug"))

    p = add("broker", "Start a local single-node Apache Kafka (KRaft) for development.", cmd_broker)
    p.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    p.add_argument("--data-dir", help="broker data folder (default ~/.cache/newsevents/broker-data)")
    p.add_argument("--kafka-version", help="Apache Kafka release to run (one with a jar lock; default 4.1.1)")
    p.add_argument(
        "--fetch-only", action="store_true", help="only download and verify the Kafka jars into the cache, then exit"
    )

    p = add("produce", "Push articles (files, folders, JSON Lines or stdin) to the raw topic.", cmd_produce)
    p.add_argument("paths", nargs="*", help="files or folders (.jsonl/.json/.txt/.html); '-' or none for stdin")
    p.add_argument("--broker", help="bootstrap servers")
    p.add_argument("--topic-prefix", help="topic prefix")
    p.add_argument("--topic", help="topic to send to (default: the raw topic)")
    p.add_argument("--raw", action="store_true", help="send JSON Lines lines as they are, even if not JSON")
    p.add_argument("--rate", type=float, help="articles per second (default: as fast as possible)")

    p = add("tail", "Print what arrives on output topics.", cmd_tail)
    p.add_argument(
        "topics",
        nargs="*",
        help="topics or short names: classified, deadletter, stats, events, or an event type (default: classified)",
    )
    p.add_argument("--broker", help="bootstrap servers")
    p.add_argument("--topic-prefix", help="topic prefix")
    p.add_argument("--json", action="store_true", help="print raw JSON lines instead of a pretty view")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    p.add_argument("--max", type=int, help="stop after this many messages")
    p.add_argument("--timeout", type=float, help="stop after this many seconds without a message")

    p = add("demo", "Run the whole pipeline locally: broker, worker, sample stream, live dashboard.", cmd_demo)
    p.add_argument("--broker", help="use this broker instead of starting one (default: start one if none answers)")
    p.add_argument("--web-port", type=int, help="dashboard port (default 6066)")
    p.add_argument("--sample", help="JSON Lines stream to replay (default: samples/stream.jsonl)")
    p.add_argument("--rate", type=float, default=2.0, help="articles per second to replay (default 2)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(
            broker=_broker_url(getattr(args, "broker", None)),
            model_path=Path(args.model) if getattr(args, "model", None) else None,
            topic_prefix=getattr(args, "topic_prefix", None),
            partitions=getattr(args, "partitions", None),
            batch_size=getattr(args, "batch_size", None) if args.command == "worker" else None,
            web_port=getattr(args, "web_port", None),
            web_host=getattr(args, "web_host", None),
        )
        if settings.security.sasl_password:
            from newsevents.streams.clients import hide_secret_in_logs

            hide_secret_in_logs(settings.security.sasl_password)
        return args.func(args, settings)
    except (UsageError, ConfigError) as exc:
        return _fail(str(exc), 2)
    except CommandError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last resort: one line, never a traceback
        if os.environ.get("NEWSEVENTS_DEBUG"):
            raise
        return _fail(f"{exc.__class__.__name__}: {exc} (set NEWSEVENTS_DEBUG=1 for details)", 1)


def _broker_url(value: str | None) -> str | None:
    if value and "://" not in value:
        return "kafka://" + value
    return value


def _fail(message: str, code: int) -> int:
    print(f"newsevents: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
