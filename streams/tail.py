"""``newsevents tail``: print what arrives on output topics."""

from __future__ import annotations

import asyncio
import json
import sys

from newsevents.config import Settings
from newsevents.streams.clients import KafkaUnavailable
from newsevents.streams.topics import quiet_client_logs


def resolve_topics(settings: Settings, names: list[str], taxonomy: list[str]) -> list[str]:
    """Expand short names: classified, deadletter, stats, raw, events (all event
    topics) or an event type id; anything else is taken as a topic name."""
    t = settings.topics
    short = {
        "classified": [t.classified],
        "deadletter": [t.deadletter],
        "stats": [t.stats],
        "raw": [t.raw],
        "events": [t.event(x) for x in taxonomy],
    }
    topics: list[str] = []
    for name in names or ["classified"]:
        if name in short:
            topics += short[name]
        elif name in taxonomy:
            topics.append(t.event(name))
        else:
            topics.append(name)
    return list(dict.fromkeys(topics))


def print_message(console, topic: str, value: bytes | None) -> None:
    """One message, human-readable (classified, dead letter, stats or other)."""
    try:
        msg = json.loads(value or b"")
    except ValueError:
        console.print(f"[dim]{topic}[/dim] {(value or b'')[:200]!r}")
        return
    if not isinstance(msg, dict):
        console.print(f"[dim]{topic}[/dim] {msg!r}")
        return
    schema = msg.get("schema", "")
    if schema.startswith("newsevents.classified"):
        events = ", ".join(f"[bold green]{e['type']}[/bold green] {e['score']:.2f}" for e in msg.get("events", []))
        console.print(
            f"[dim]{topic}[/dim] [bold]{msg.get('title') or msg.get('id')}[/bold]  "
            f"{events or '[dim]no events[/dim]'}"
            + (f" [yellow]({msg['reason']})[/yellow]" if msg.get("reason") else "")
        )
        for e in msg.get("events", []):
            for sentence in e.get("evidence", [])[:1]:
                console.print(f"    [green]{e['type']}[/green]: [italic]{sentence}[/italic]", highlight=False)
    elif schema.startswith("newsevents.deadletter"):
        console.print(
            f"[dim]{topic}[/dim] [bold red]{msg.get('error')}[/bold red] {msg.get('detail')} "
            f"[dim](from {msg.get('topic')}[{msg.get('partition')}]@{msg.get('offset')})[/dim]"
        )
    elif schema.startswith("newsevents.stats"):
        console.print(
            f"[dim]{topic}[/dim] [bold]{msg.get('type')}[/bold] last hour {msg.get('last_hour')}, "
            f"last 24 h {msg.get('last_24h')}, total {msg.get('total')}"
        )
    else:
        console.print(f"[dim]{topic}[/dim] {json.dumps(msg)[:300]}", highlight=False)


async def _tail(
    settings: Settings,
    topics: list[str],
    as_json: bool,
    from_beginning: bool,
    max_messages: int | None,
    idle_timeout: float | None,
) -> int:
    from aiokafka import AIOKafkaConsumer
    from rich.console import Console

    from newsevents.streams.clients import client_args, start_client

    console = Console(highlight=False, soft_wrap=True)
    consumer = AIOKafkaConsumer(
        *topics,
        **client_args(settings),
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    await start_client(consumer, settings.bootstrap_servers, settings.security)
    seen = 0
    try:
        print(f"tailing {', '.join(topics)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while max_messages is None or seen < max_messages:
            batch = await consumer.getmany(timeout_ms=int((idle_timeout or 3600) * 1000), max_records=100)
            if not batch:
                if idle_timeout:
                    break
                continue
            for tp, records in batch.items():
                for record in records:
                    if as_json:
                        line = {
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "offset": record.offset,
                            "key": record.key.decode("utf-8", "replace") if record.key else None,
                        }
                        try:
                            line["value"] = json.loads(record.value) if record.value else None
                        except ValueError:
                            line["value"] = record.value.decode("utf-8", "replace")
                        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                        sys.stdout.flush()
                    else:
                        print_message(console, tp.topic, record.value)
                    seen += 1
                    if max_messages is not None and seen >= max_messages:
                        return 0
    finally:
        await consumer.stop()
    return 0


def tail(
    settings: Settings,
    names: list[str],
    *,
    as_json: bool = False,
    from_beginning: bool = False,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> int:
    from newsevents.model.taxonomy import DEFAULT_TAXONOMY

    quiet_client_logs()
    taxonomy = list(DEFAULT_TAXONOMY)
    try:
        from newsevents.model.artifact import read_manifest

        taxonomy = list(read_manifest(settings.model_path)["taxonomy"])
    except Exception:
        pass  # no readable model here: the default taxonomy names the event topics
    topics = resolve_topics(settings, names, taxonomy)
    try:
        return asyncio.run(_tail(settings, topics, as_json, from_beginning, max_messages, idle_timeout))
    except KafkaUnavailable as exc:
        print(f"newsevents: error: {exc}", file=sys.stderr)
        return 1
