"""The two baselines `bench_pipeline.py` runs beside the worker, each as its own process.

Both read the worker's raw topic layout and write what the worker writes to
``<prefix>.articles.classified`` (story fields included), the event topics, the
story index and the dead-letter topic, so the benchmark measures all three the
same way. Neither is product code: they exist to be compared with.

* ``plain``: the loop an engineer would write without a stream processor.
  aiokafka ``getmany(500)``, then in a thread ``process_batch`` and the story
  grouping of its envelopes, then every output sent and awaited, then
  ``commit``; serial, no overlap, no Faust, the model in a thread. The story
  stage runs inline (one process owns all of it), which saves the worker's
  second hop through ``<prefix>.internal.stories``.
* ``naive``: a Faust agent that classifies each article as it comes (in the
  event loop) and awaits the send of each of its outputs.

    python bench/baselines.py plain|naive      # settings from NEWSEVENTS_* like the worker
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsevents.config import Settings
from newsevents.model.artifact import load_artifact
from newsevents.model.service import ArticleClassifier
from newsevents.streams.clients import client_args
from newsevents.streams.consume import records_of
from newsevents.streams.pipeline import Output, RawRecord, process_batch
from newsevents.streams.story_stage import StoryGrouper
from newsevents.streams.worker import ensure_worker_topics


class Classify:
    """``process_batch`` and the story grouping, as one call: raw records in, final outputs out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.classifier = ArticleClassifier(load_artifact(settings.model_path))
        self.grouper = StoryGrouper(self.topics, window=settings.story_window_hours * 3600)

    def __call__(self, records: Sequence[RawRecord]) -> list[Output]:
        result = process_batch(records, self.classifier, self.topics, max_bytes=self.settings.max_article_bytes)
        envelopes = [RawRecord(o.value, o.key, topic=o.topic) for o in result.outputs if o.topic == self.topics.stories]
        others = [o for o in result.outputs if o.topic != self.topics.stories]
        return others + self.grouper.group(envelopes).outputs


async def plain(settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    classify = Classify(settings)
    await ensure_worker_topics(settings, list(classify.classifier.taxonomy))
    options = client_args(settings)
    consumer = AIOKafkaConsumer(
        settings.topics.raw,
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )
    producer = AIOKafkaProducer(acks="all", max_batch_size=1 << 20, max_request_size=1 << 20, **options)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await consumer.start()
    await producer.start()
    print("plain loop ready", file=sys.stderr, flush=True)
    try:
        while not stopping.is_set():
            records = records_of(await consumer.getmany(timeout_ms=200, max_records=settings.batch_size)).records
            if not records:
                continue
            outputs = await asyncio.to_thread(classify, records)
            sent = [await producer.send(o.topic, o.value, key=o.key) for o in outputs]
            await asyncio.gather(*sent)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def naive(settings: Settings) -> int:
    import faust

    from newsevents.streams.app import faust_options

    classify = Classify(settings)
    asyncio.run(ensure_worker_topics(settings, list(classify.classifier.taxonomy)))
    app = faust.App(settings.app_id, **faust_options(settings), web_enabled=False)
    raw = app.topic(settings.topics.raw, key_serializer="raw", value_serializer="raw")
    out_topics: dict[str, faust.TopicT] = {}

    @app.agent(raw, name="naive-classify")
    async def one_at_a_time(stream: faust.StreamT) -> None:
        async for event in stream.events():
            m = event.message
            record = RawRecord(m.value, m.key, m.topic, m.partition, m.offset, m.timestamp)
            for output in classify([record]):
                topic = out_topics.get(output.topic)
                if topic is None:
                    topic = out_topics[output.topic] = app.topic(
                        output.topic, key_serializer="raw", value_serializer="raw"
                    )
                await topic.send(key=output.key, value=output.value)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel="warn", quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["plain", "naive"])
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.kind == "plain":
        asyncio.run(plain(settings))
        return 0
    return naive(settings)


if __name__ == "__main__":
    sys.exit(main())
