"""``newsevents produce``: push articles from files, folders or stdin to Kafka.

What is sent per input:

* ``.jsonl`` / ``.ndjson`` files and stdin: one message per non-empty line.
  Lines must be JSON objects unless ``--raw`` (then any line is sent as is).
* ``.json`` files: one object, or an array of objects.
* ``.txt`` / ``.md`` files: the file's text as one article ``{"id", "text"}``.
* ``.html`` / ``.htm`` files: ``{"id", "html"}``.

Refused (counted, reported, not sent): unreadable files, invalid JSON,
empty lines, messages over the size limit. Keys are article ids when known.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsevents.config import ConfigError, Settings
from newsevents.streams.topics import quiet_client_logs

_LINE_SUFFIXES = {".jsonl", ".ndjson"}
_TEXT_SUFFIXES = {".txt", ".md", ".text"}
_HTML_SUFFIXES = {".html", ".htm"}


@dataclass
class ProduceSummary:
    sent: int = 0
    refused: Counter = field(default_factory=Counter)  # reason -> count
    examples: list[str] = field(default_factory=list)  # first few refusal details

    def refuse(self, reason: str, where: str) -> None:
        self.refused[reason] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Outgoing:
    key: bytes | None
    value: bytes


def _key_of(obj: dict) -> bytes | None:
    value = obj.get("id")
    return str(value).encode() if isinstance(value, (str, int)) and str(value) else None


def _from_lines(
    lines: Iterator[bytes], where: str, raw: bool, limit: int, summary: ProduceSummary
) -> Iterator[Outgoing]:
    for number, line in enumerate(lines, 1):
        line = line.rstrip(b"\r\n")
        here = f"{where}:{number}"
        if not line.strip():
            continue  # blank lines separate nothing; skipping them is not a refusal
        if len(line) > limit:
            summary.refuse("oversized", here)
            continue
        if raw:
            yield Outgoing(None, line)
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            summary.refuse("not JSON (use --raw to send text lines)", here)
            continue
        if not isinstance(obj, dict):
            summary.refuse("not a JSON object", here)
            continue
        yield Outgoing(_key_of(obj), line)


def messages_from(path: Path | None, *, raw: bool, limit: int, summary: ProduceSummary) -> Iterator[Outgoing]:
    """The messages one input yields (``None`` = stdin)."""
    if path is None:
        yield from _from_lines(iter(sys.stdin.buffer.readline, b""), "stdin", raw, limit, summary)
        return
    suffix = path.suffix.lower()
    try:
        if suffix in _LINE_SUFFIXES:
            with open(path, "rb") as fh:
                yield from _from_lines(fh, str(path), raw, limit, summary)
            return
        data = path.read_bytes()
    except OSError as exc:
        summary.refuse(f"unreadable ({exc.strerror})", str(path))
        return
    if len(data) > limit:
        summary.refuse("oversized", str(path))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        summary.refuse("not UTF-8", str(path))
        return
    if suffix == ".json":
        try:
            obj = json.loads(text)
        except ValueError:
            summary.refuse("not JSON", str(path))
            return
        for i, item in enumerate(obj if isinstance(obj, list) else [obj]):
            if isinstance(item, dict):
                yield Outgoing(_key_of(item), json.dumps(item, ensure_ascii=False).encode())
            else:
                summary.refuse("not a JSON object", f"{path}[{i}]")
        return
    if not text.strip():
        summary.refuse("empty", str(path))
        return
    field_name = "html" if suffix in _HTML_SUFFIXES else "text"
    if suffix not in _HTML_SUFFIXES | _TEXT_SUFFIXES:
        summary.refuse(f"unknown file type {suffix or '(none)'}", str(path))
        return
    article = {"id": path.stem, field_name: text, "source": "file"}
    yield Outgoing(path.stem.encode(), json.dumps(article, ensure_ascii=False).encode())


def expand_inputs(paths: list[Path]) -> list[Path | None]:
    """Files as given, folders as their supported files (sorted, recursive); none = stdin."""
    if not paths or paths == [Path("-")]:
        return [None]
    inputs: list[Path | None] = []
    supported = _LINE_SUFFIXES | _TEXT_SUFFIXES | _HTML_SUFFIXES | {".json"}
    for path in paths:
        if str(path) == "-":
            inputs.append(None)
        elif path.is_dir():
            inputs.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in supported)
        else:
            inputs.append(path)
    return inputs


async def _send_all(
    settings: Settings,
    topic: str,
    inputs: list[Path | None],
    raw: bool,
    rate: float | None,
    summary: ProduceSummary,
    progress,
) -> None:
    from aiokafka import AIOKafkaProducer

    from newsevents.streams.clients import client_args, start_client
    from newsevents.streams.topics import ensure_topics_async

    if topic == settings.topics.raw:
        await ensure_topics_async(settings, [topic], settings.partitions)
    producer = AIOKafkaProducer(
        **client_args(settings),
        linger_ms=5,
        max_request_size=max(settings.max_article_bytes * 2, 1 << 20),
    )
    await start_client(producer, settings.bootstrap_servers, settings.security)
    try:
        pending = []
        started = time.monotonic()
        for path in inputs:
            for message in messages_from(path, raw=raw, limit=settings.max_article_bytes, summary=summary):
                pending.append(await producer.send(topic, message.value, key=message.key))
                summary.sent += 1
                progress(summary.sent)
                if rate:
                    delay = started + summary.sent / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if len(pending) >= 1000:
                    await asyncio.gather(*pending)
                    pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def produce(
    settings: Settings, paths: list[Path], *, topic: str | None = None, raw: bool = False, rate: float | None = None
) -> int:
    """Send, print a summary on stderr; exit 0 when everything was sent, 1 when some input was refused."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from newsevents.streams.clients import KafkaUnavailable

    console = Console(stderr=True, soft_wrap=True)
    quiet_client_logs()
    topic = topic or settings.topics.raw
    missing = [p for p in paths if str(p) != "-" and not p.exists()]
    if missing:
        console.print(f"newsevents: error: {missing[0]}: no such file or folder", highlight=False)
        return 2
    summary = ProduceSummary()
    with Progress(
        SpinnerColumn(),
        TextColumn("sending to {task.fields[topic]}: {task.completed} articles"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("send", total=None, topic=topic)
        try:
            asyncio.run(
                _send_all(
                    settings, topic, expand_inputs(paths), raw, rate, summary, lambda n: bar.update(task, completed=n)
                )
            )
        except KafkaUnavailable as exc:
            console.print(f"newsevents: error: {exc}", highlight=False)
            return 1
        except ConfigError:
            raise  # unusable TLS files: the command line reports it like any bad setting
        except Exception as exc:  # connection lost mid-way, broker refused a message, ...
            console.print(
                f"newsevents: error: sending failed after {summary.sent} articles: {exc.__class__.__name__}: {exc}",
                highlight=False,
            )
            return 1
    refused = sum(summary.refused.values())
    console.print(
        f"sent {summary.sent} article(s) to {topic}; refused {refused}"
        + (": " + ", ".join(f"{n} {r}" for r, n in summary.refused.items()) if refused else ""),
        highlight=False,
    )
    for example in summary.examples:
        console.print(f"  refused {example}", highlight=False)
    return 1 if refused else 0
