"""Fuzz and fault injection: a real worker on a real broker, every input accounted for.

Starts a local Apache Kafka (from the cached Maven jars) and real
``newsevents worker`` subprocesses, sends thousands of records mixing good
articles (``bench/articles.py``) with adversarial payloads of many kinds
(:func:`adversarial_kinds`), injects a fault mid-stream, and checks that every
input got exactly one primary output: a ``classified`` value or a dead letter.

How inputs and outputs are matched: the broker stamps every record with its
append time (``LogAppendTime``); each input's partition and offset come back
from the producer; a dead letter names the raw record's partition and offset;
a classified value is keyed by the article id, which the harness predicts with
the project's public parsing rule (``parse_article`` then ``normalise_id``),
and every input's id is unique. An output that matches no input is counted as
``unmatched`` (a misprediction or a stray record), never silently ignored.

Scenarios (``--scenarios``, comma-separated):

* ``fuzz``: no fault; the largest mix of adversarial payloads.
* ``worker-term``: SIGTERM the worker mid-stream (a deploy), then start a new one.
* ``worker-kill``: SIGKILL the worker mid-stream, then start a new one.
* ``broker-term`` / ``broker-kill``: SIGTERM / SIGKILL the broker mid-stream,
  keep it down ``--down`` / ``--down-kill`` seconds, start it again.
* ``two-workers``: two workers share the group; SIGKILL the one running the
  story stage mid-stream: the other must take over its partitions and the
  story stage.
* ``model-kill``: SIGKILL the worker's model child process three times, 4 s
  apart (the second usually while its replacement loads the model).

For each: inputs, lost, duplicates, outputs that match no input, malformed
outputs, seconds from the fault to the first new output and to the last one,
agent crashes (``/metrics`` and the worker's log), unexpected worker exits,
``/health`` answers (the workers run with ``NEWSEVENTS_STALL_SECONDS=10``),
worker memory (worker plus model process), and the worker's log lines during
the fault. Phase one (60 % of the inputs) is sent before the fault, which
fires when a quarter of the inputs have their output; phase two is sent once
the fault is over. A scenario ends when every input has an output, the
workers report no lag, and no output came for 8 s (late duplicates count).
Exit code 1 if anything was lost, stray, malformed or crashed.

    python bench/fuzz_worker.py [--scenarios fuzz,worker-kill,...] [--good N] [--rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.articles import bench_articles  # noqa: E402
from bench.processes import children, model_children, rss_mb  # noqa: E402
from newsevents.config import DEFAULT_MODEL_DIR, Topics  # noqa: E402
from newsevents.model.article import ArticleError, normalise_id, parse_article  # noqa: E402
from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars, free_port  # noqa: E402
from newsevents.streams.processes import stop_gracefully  # noqa: E402

MAX_ARTICLE_BYTES = 1 << 20  # the worker's default NEWSEVENTS_MAX_ARTICLE_BYTES, set explicitly below
BIG = 64 * 1024  # payloads at least this large are sent every --big-every rounds only
STALL_SECONDS = 10  # the workers' NEWSEVENTS_STALL_SECONDS: /health turns 503 after this long stalled

# -- payloads -------------------------------------------------------------------------------------

Payload = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], bool]  # key, value, headers, gzip
_TEXT = (
    "Northwind Foods agreed to acquire Harbor Snacks for $450 million in cash, the companies said on Monday. "
    "Harbor Snacks makes crisps and nuts in Ohio and Ireland and employs 900 people."
)


def _art(uid: str, **fields: Any) -> bytes:
    return json.dumps(
        {"id": uid, "title": "Northwind buys Harbor Snacks", "text": f"{_TEXT} Ref {uid}.", **fields}
    ).encode()


def _k(uid: str) -> bytes:
    return uid.encode()


def _plain(value: bytes, uid: str | None, *, gz: bool = False) -> Payload:
    """A payload keyed by ``uid`` (None: no key)."""
    return (_k(uid) if uid is not None else None), value, [], gz


def _nested(depth: int, opener: str, closer: str, inside: str = "1") -> str:
    return opener * depth + inside + closer * depth


def adversarial_kinds() -> dict[str, Callable[[str, random.Random], Payload]]:
    """Kind name -> ``make(uid, rng)`` returning ``(key, value, headers, gzip)``.

    ``uid`` is unique per input; every payload that could be classified
    carries it (in its id, key or text) so each input has its own output key.
    ``gzip`` marks payloads over the broker's 1 MB record limit, which are sent
    gzip-compressed.
    """
    deep = _nested(5000, "[", "]")
    kinds: dict[str, Callable[[str, random.Random], Payload]] = {
        # structure
        "deep JSON array": lambda u, r: _plain(deep.encode(), u),
        "deep JSON object": lambda u, r: _plain(_nested(5000, '{"a":', "}").encode(), u),
        "deep JSON in a field": lambda u, r: _plain(f'{{"id": "{u}", "title": "Deep", "text": {deep}}}'.encode(), u),
        "deep JSON in an unknown field": lambda u, r: _plain(_art(u)[:-1] + b', "meta": ' + deep.encode() + b"}", u),
        "unclosed brackets": lambda u, r: _plain(b"[" * 50_000, u),
        "truncated JSON": lambda u, r: _plain(_art(u)[:40], u),
        "JSON then garbage": lambda u, r: _plain(_art(u) + b" trailing }{ garbage", u),
        "top-level string": lambda u, r: _plain(json.dumps(f"Northwind buys Harbor {u}").encode(), u),
        "top-level number": lambda u, r: _plain(b"12345", u),
        "top-level null": lambda u, r: _plain(b"null", u),
        "top-level array of articles": lambda u, r: _plain(b"[" + _art(u) + b"," + _art(u + "b") + b"]", u),
        "duplicated JSON keys": lambda u, r: _plain(
            f'{{"id": "{u}-first", "id": "{u}", "title": "A", "title": "Acme buys Foo", '
            f'"text": "{_TEXT}", "text": "{_TEXT} {u}."}}'.encode(),
            u,
        ),
        "thousands of fields": lambda u, r: _plain(
            json.dumps({"id": u, "title": "Acme buys Foo", **{f"f{i}": i for i in range(10_000)}}).encode(), u
        ),
        "huge array field": lambda u, r: _plain(_art(u)[:-1] + b', "tags": [' + b"0," * 100_000 + b"0]}", u),
        "title is an object": lambda u, r: _plain(json.dumps({"id": u, "title": {"a": [1, {"b": 2}]}}).encode(), u),
        "id is a list": lambda u, r: _plain(json.dumps({"id": [u, 1], "title": "Acme buys Foo"}).encode(), u),
        "id is null, key names it": lambda u, r: _plain(json.dumps({"id": None, "title": f"Acme {u}"}).encode(), u),
        "id is a boolean": lambda u, r: _plain(json.dumps({"id": True, "title": f"Acme {u}"}).encode(), u),
        # numbers
        "huge integer id": lambda u, r: _plain(
            b'{"id": 1' + u.rsplit("-a", 1)[-1].zfill(9).encode() + b"7" * 5000 + b', "title": "Acme buys Foo"}', None
        ),
        "huge integer title": lambda u, r: _plain(b'{"title": ' + b"9" * 20_000 + b"}", u),
        "huge exponent": lambda u, r: _plain(_art(u)[:-1] + b', "score": 1e999999, "n": -1e-999999}', u),
        "NaN and Infinity literals": lambda u, r: _plain(
            b'{"id": "' + u.encode() + b'", "title": NaN, "x": Infinity}', u
        ),
        # encodings
        "lone surrogate in text": lambda u, r: _plain(
            f'{{"id": "{u}", "title": "Acme \\ud800 opens", "text": "Acme opens a store in Lima. \\udfff"}}'.encode(),
            u,
        ),
        "lone surrogate in id": lambda u, r: _plain(
            f'{{"id": "{u}\\ud800", "title": "Acme opens a store", "text": "{_TEXT}"}}'.encode(), u
        ),
        "surrogate as UTF-8 bytes": lambda u, r: _plain(
            b'{"id": "' + u.encode() + b'", "title": "Acme \xed\xa0\x80 opens"}', u
        ),
        "invalid UTF-8": lambda u, r: _plain(b"\xff" + r.randbytes(r.randint(10, 2000)), u),
        "UTF-8 cut mid-character": lambda u, r: _plain(
            json.dumps({"id": u, "title": "Ünïcödé ärticle"}, ensure_ascii=False).encode()[:-5] + b"\xc3", u
        ),
        "BOM then JSON": lambda u, r: _plain(b"\xef\xbb\xbf" + _art(u), u),
        "BOM then text": lambda u, r: _plain(b"\xef\xbb\xbf" + f"Acme buys Foo\n\n{_TEXT} {u}".encode(), u),
        "UTF-16 JSON": lambda u, r: _plain(_art(u).decode().encode("utf-16"), u),
        "UTF-32 JSON": lambda u, r: _plain(_art(u).decode().encode("utf-32"), u),
        "Latin-1 text": lambda u, r: _plain(f"Café Noël buys Señor Foo {u}".encode("latin-1"), u),
        "control characters 2 KB": lambda u, r: _plain(b"\x1c" * 2000, u),
        "NUL bytes in text": lambda u, r: _plain(_art(u, text=("Acme\x00buys\x00Foo. " * 50) + u), u),
        "NUL bytes only": lambda u, r: _plain(b"\x00" * 1000, u),
        "escape sequences (ANSI)": lambda u, r: _plain(_art(u, title="\x1b[31mRed\x1b[0m \x07\x08 Acme buys Foo"), u),
        "bidi overrides": lambda u, r: _plain(_art(u, title="\u202eooF syub emcA\u202c \u2066x\u2069"), u),
        "zero-width everywhere": lambda u, r: _plain(_art(u, text="\u200b".join(_TEXT) + u), u),
        "combining marks (zalgo)": lambda u, r: _plain(
            _art(u, text="".join(c + "\u0301\u0308\u0327" * 5 for c in _TEXT)), u
        ),
        "emoji and astral": lambda u, r: _plain(_art(u, title="\U0001f600\U0001f680 Acme buys Foo \U0001d400" * 20), u),
        "mixed scripts": lambda u, r: _plain(
            _art(u, text="Acme 阿里巴巴 شركة Компания कंपनी Ελλάδα 株式会社 buys Foo. " * 30 + u), u
        ),
        "NFKC expansion": lambda u, r: _plain(_art(u, text="\ufdfa" * 5000), u),
        "CR-only line breaks": lambda u, r: _plain(_art(u, text=_TEXT.replace(". ", ".\r") * 10), u),
        "unicode line separators": lambda u, r: _plain(_art(u, text=_TEXT.replace(". ", ".\u2028\u2029") * 10), u),
        "escaped unicode everywhere": lambda u, r: _plain(
            b'{"id": "' + u.encode() + b'", "title": "' + b"\\u0041\\u0020" * 3000 + b'"}', u
        ),
        # keys and ids
        "binary key": lambda u, r: (
            b"\xff" + r.randbytes(24),
            json.dumps({"title": f"Acme buys Foo {u}"}).encode(),
            [],
            False,
        ),
        "empty key": lambda u, r: (b"", json.dumps({"title": f"Acme buys Foo {u}", "text": _TEXT}).encode(), [], False),
        "no key and no id": lambda u, r: (
            None,
            json.dumps({"title": f"Acme buys Foo {u}", "text": _TEXT}).encode(),
            [],
            False,
        ),
        "shared record key": lambda u, r: (b"shared-key", _art(u), [], False),
        "id with control characters": lambda u, r: _plain(_art(f"{u}\n\t\x00\x1b[2J"), u),
        "very long URL": lambda u, r: _plain(_art(u, url="https://example.com/" + "a/" * 20_000), u),
        "javascript URL and junk metadata": lambda u, r: _plain(
            _art(u, url="javascript:alert(1)", published_at="not a date \x00", language="xx-\u202e", source="<b>x</b>"),
            u,
        ),
        # Kafka record shapes
        "tombstone with key": lambda u, r: (_k(u), None, [], False),
        "tombstone with an empty key": lambda u, r: (b"", None, [], False),
        "empty value": lambda u, r: _plain(b"", u),
        "whitespace only": lambda u, r: _plain(b" \n\t\r\n  ", u),
        "many headers": lambda u, r: (_k(u), _art(u), [(f"h{i}", r.randbytes(16)) for i in range(200)], False),
        "copy of another article (same story)": lambda u, r: _plain(
            json.dumps({"id": u, "title": "Northwind to buy Harbor Snacks", "text": _TEXT + " Comments (3)"}).encode(),
            u,
        ),
        # HTML
        "HTML script and style only": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<script>alert(1)</script><style>p{}</style>" * 50}).encode(), u
        ),
        "HTML entities": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<p>Acme &amp; Foo " + "&amp;&#0;&#x110000;&bogus;" * 2000 + "</p>"}).encode(),
            u,
        ),
        "HTML unclosed comment": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<p>Acme buys Foo</p><!-- " + _TEXT}).encode(), u
        ),
        "plain-text HTML page": lambda u, r: _plain(
            f"<!doctype html><html><body><h1>Acme buys Foo</h1><p>{_TEXT} {u}</p></body></html>".encode(), u
        ),
        # big ones (sent every --big-every rounds)
        "200 KB of \\x1c": lambda u, r: _plain(b"\x1c" * 200_000, u),
        "gzip bomb of control characters (1.1 MiB)": lambda u, r: _plain(b"\x01" * (1100 * 1024), u, gz=True),
        "oversized article (2 MiB, gzip)": lambda u, r: _plain(_art(u, text="Acme buys Foo. " * 140_000), u, gz=True),
        "article exactly at the size limit (gzip)": lambda u, r: _plain(_padded(u, MAX_ARTICLE_BYTES), u, gz=True),
        "article one byte over the limit (gzip)": lambda u, r: _plain(_padded(u, MAX_ARTICLE_BYTES + 1), u, gz=True),
        "999 KB id": lambda u, r: _plain(
            json.dumps({"id": u + "x" * 999_000, "title": "Acme buys Foo"}).encode(), None
        ),
        "999 KB key": lambda u, r: (
            u.encode() + b"k" * 999_000,
            json.dumps({"title": f"Acme buys Foo {u}"}).encode(),
            [],
            False,
        ),
        "sentence bomb 'A. ' x 50,000": lambda u, r: _plain(_art(u, text="A. " * 50_000), u),
        "900 KB of short sentences": lambda u, r: _plain(_art(u, text="Acme buys Foo. " * 60_000), u),
        "one 900 KB token": lambda u, r: _plain(_art(u, text="a" * 900_000), u),
        "one 500 KB line of words": lambda u, r: _plain(_art(u, text="acme bought foo and " * 25_000), u),
        "HTML nested 100,000 divs": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<div>" * 100_000 + "Acme bought Foo."}).encode(), u
        ),
        "HTML misnested formatting": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<b><i><u><s>x</b>" * 20_000 + "Acme bought Foo."}).encode(), u
        ),
        "HTML 100,000 empty tags": lambda u, r: _plain(
            json.dumps({"id": u, "html": "<i></i>" * 100_000 + "Acme."}).encode(), u
        ),
        "plain-text HTML bomb": lambda u, r: _plain(b"<html><body>" + b"<div><p>" * 60_000 + b"Acme bought Foo.", u),
        "600 KB of quotes": lambda u, r: _plain(b'"' * 600_000, u),
        "600 KB of backslashes": lambda u, r: _plain(b"\\" * 600_000, u),
        "400 KB header": lambda u, r: (_k(u), _art(u), [("big", b"h" * 400_000)], False),
    }
    return kinds


def _padded(uid: str, size: int) -> bytes:
    """A valid article of exactly ``size`` bytes."""
    head = _art(uid, text="")
    filler = size - len(head)
    return _art(uid, text="word " * (filler // 5) + "x" * (filler % 5))


def expected_key(key: bytes | None, value: bytes | None) -> bytes | None:
    """The output key a classified output of this record would carry (None: it cannot be classified)."""
    if value is None:
        return None
    try:
        article = parse_article(value, max_bytes=MAX_ARTICLE_BYTES, fallback_id=key or None)
    except ArticleError:
        return None
    return normalise_id(article.id).encode("utf-8")


@dataclass
class Input:
    """One record sent, and what came out for it."""

    kind: str
    expected: bytes | None  # the key of its classified output, if it gets one
    size: int
    partition: int = -1
    offset: int = -1
    outputs: int = 0
    first_at: float = 0.0  # broker append time of its first output (s)
    outcome: str = ""  # "classified" or "dead letter: <reason>"
    last_at: float = 0.0  # broker append time of its latest output (s)


def build_inputs(
    run: str, good: int, rounds: int, big_every: int, seed: int
) -> tuple[list[Input], list[Callable[[], Payload]]]:
    """The inputs in send order, and for each a function that makes its payload (payloads are made when sent)."""
    rng = random.Random(seed)
    kinds = adversarial_kinds()
    articles = bench_articles(min(good, 2000))
    plan: list[tuple[str, Callable[[], Payload]]] = []
    for i in range(good):
        uid = f"{run}-g{i}"
        body = json.dumps({**articles[i % len(articles)], "id": uid}).encode()
        plan.append(("good article", lambda uid=uid, body=body: (uid.encode(), body, [], False)))
    big = {name for name, make in kinds.items() if _size(make(f"{run}-a0", random.Random(0))) >= BIG}
    n = 0
    for round_ in range(rounds):
        for name, make in kinds.items():
            if round_ % big_every and name in big:
                continue
            uid = f"{run}-a{n}"
            n += 1
            payload_seed = rng.randrange(1 << 30)
            plan.append((name, lambda make=make, uid=uid, s=payload_seed: make(uid, random.Random(s))))
    rng.shuffle(plan)
    inputs, makers = [], []
    seen: dict[bytes, str] = {}
    for name, maker in plan:
        key, value, _, _ = maker()
        expected = expected_key(key, value)
        if expected is not None:
            if expected in seen:
                raise RuntimeError(
                    f"two inputs ({seen[expected]}, {name}) would share the output key {expected[:60]!r}"
                )
            seen[expected] = name
        inputs.append(Input(name, expected, _size((key, value, [], False))))
        makers.append(maker)
    return inputs, makers


def _size(payload: Payload) -> int:
    key, value, headers, _ = payload
    return len(key or b"") + len(value or b"") + sum(len(v) for _, v in headers)


# -- processes --------------------------------------------------------------------------------------


class Worker:
    """One ``newsevents worker`` subprocess (restartable: a new process on a new port)."""

    def __init__(self, name: str, bootstrap: str, prefix: str, work: Path) -> None:
        self.name = name
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.work = work
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0
        self.log_path = work / f"{name}.log"
        self.crashes_seen = 0.0  # agent crashes reported by the current process
        self.crashes_total = 0.0
        self.expected_exit = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.crashes_total += self.crashes_seen
        self.crashes_seen = 0.0
        self.port = free_port()
        self.starts += 1
        self.expected_exit = False
        env = {
            **os.environ,
            "NEWSEVENTS_BROKER": f"kafka://{self.bootstrap}",
            "NEWSEVENTS_MODEL": str(DEFAULT_MODEL_DIR),
            "NEWSEVENTS_TOPIC_PREFIX": self.prefix,
            "NEWSEVENTS_APP_ID": f"{self.prefix}-worker",
            "NEWSEVENTS_PARTITIONS": "4",
            "NEWSEVENTS_WEB_PORT": str(self.port),
            "NEWSEVENTS_DATA_DIR": str(self.work / f"data-{self.name}-{self.starts}"),
            "NEWSEVENTS_MAX_ARTICLE_BYTES": str(MAX_ARTICLE_BYTES),
            "NEWSEVENTS_STALL_SECONDS": str(STALL_SECONDS),
            "NEWSEVENTS_STATS_INTERVAL": "5",
        }
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(f"\n===== start {self.starts} at {time.time():.3f}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "newsevents.cli", "worker", "-l", "info"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.expected_exit = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            self.expected_exit = True
            stop_gracefully(self.proc, timeout=30)

    def model_processes(self) -> list[int]:
        if not self.alive():
            return []
        assert self.proc is not None
        return model_children(self.proc.pid)

    def rss_mb(self) -> tuple[float, float]:
        """(worker process, worker plus its children) resident memory in MB."""
        if not self.alive():
            return 0.0, 0.0
        assert self.proc is not None
        own = rss_mb(self.proc.pid)
        return own, own + sum(rss_mb(c) for c in children(self.proc.pid))

    def crash_lines(self) -> int:
        """Crashes the worker logged (Faust's line when a service crashes: the metric may die with the process)."""
        if not self.log_path.exists():
            return 0
        return sum("Crashed reason=" in line for line in self.log_path.read_text(errors="replace").splitlines())

    def log_records(self, since: float, until: float = float("inf")) -> list[str]:
        """The log records stamped between two wall times. By their stamps, not by file offsets:
        the worker's output to a file is block-buffered, so bytes reach it late."""
        if not self.log_path.exists():
            return []
        records = []
        # One record per line that starts with Faust's "[date time]"; continuation lines are not records.
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                continue
            if since <= stamp <= until:
                records.append(line)
        return records


# -- the run --------------------------------------------------------------------------------------------


@dataclass
class Observed:
    """What the monitors and the output reader saw."""

    inputs: list[Input]
    by_position: dict[tuple[int, int], int] = field(default_factory=dict)
    by_key: dict[bytes, int] = field(default_factory=dict)
    done: int = 0  # inputs with at least one output
    malformed: list[str] = field(default_factory=list)
    dead_reasons: Counter = field(default_factory=Counter)
    story_stage_deadletters: int = 0
    append_times: list[float] = field(default_factory=list)  # broker append time of each primary output (s)
    last_output_at: float = 0.0  # monotonic, when the reader last saw a primary output
    health: Counter = field(default_factory=Counter)
    health_reasons: Counter = field(default_factory=Counter)
    health_log: list[tuple[float, str, str]] = field(default_factory=list)  # (wall time, worker, status) on change
    rss: list[tuple[float, float, float]] = field(default_factory=list)  # (done fraction, worker MB, with children MB)
    lag: float = 0.0
    started_at: float = 0.0  # wall time the inputs started to go out

    pending: list[tuple[Any, float, str, str]] = field(default_factory=list)  # (lookup, append time, outcome, where)

    def rematch(self) -> None:
        """Match the outputs not matched yet (a dead letter can arrive before its input's offset is known)."""
        left = []
        for lookup, appended, outcome, description in self.pending:
            i = self.by_position.get(lookup) if isinstance(lookup, tuple) else self.by_key.get(lookup)
            if i is None:
                left.append((lookup, appended, outcome, description))
                continue
            entry = self.inputs[i]
            entry.outputs += 1
            entry.last_at = appended
            if entry.outputs == 1:
                self.done += 1
                entry.first_at = appended
                entry.outcome = outcome
            self.append_times.append(appended)
            self.last_output_at = time.monotonic()
        self.pending = left

    @property
    def unmatched(self) -> list[str]:
        return [description for *_, description in self.pending]


async def read_outputs(bootstrap: str, topics: Topics, seen: Observed, stop: asyncio.Event) -> None:
    """Read the classified and dead-letter topics from the start and match each record to its input."""
    consumer = AIOKafkaConsumer(
        topics.classified,
        topics.deadletter,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=32 << 20,
        max_partition_fetch_bytes=8 << 20,
        metadata_max_age_ms=2000,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    _match(tp.topic, r, topics, seen)
    finally:
        await consumer.stop()


def _match(topic: str, record: Any, topics: Topics, seen: Observed) -> None:
    key = record.key
    if key is not None and key.startswith(b"probe-"):
        return
    where = f"{topic}@{record.partition}:{record.offset}"
    try:
        message = json.loads(record.value.decode("utf-8"))
        if not isinstance(message, dict) or len(record.value) + len(key or b"") > 1_000_000:
            raise ValueError("not an object, or over the record limit")
    except (ValueError, AttributeError) as exc:
        seen.malformed.append(f"{where}: {exc}")
        return
    if topic == topics.deadletter:
        seen.dead_reasons[message.get("error")] += 1
    if topic == topics.deadletter and message.get("topic") == topics.raw:
        lookup: tuple | bytes | None = (message.get("partition"), message.get("offset"))
    else:  # classified, or a dead letter of the story stage (it names the stories topic): by key
        seen.story_stage_deadletters += topic == topics.deadletter
        lookup = key
    outcome = f"dead letter: {message.get('error')}" if topic == topics.deadletter else "classified"
    description = f"{where} key={(key or b'')[:60]!r} error={message.get('error')}"
    seen.pending.append((lookup, record.timestamp / 1000, outcome, description))
    seen.rematch()


async def send(bootstrap: str, topic: str, inputs: list[Input], makers: list, indexes: range, seen: Observed) -> None:
    """Send some inputs and note each one's partition and offset (the dead letters' address)."""
    plain = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_request_size=2 << 20, request_timeout_ms=60000
    )
    packed = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type="gzip", max_request_size=16 << 20, request_timeout_ms=60000
    )
    await plain.start()
    await packed.start()
    try:
        pending: list[tuple[int, Any]] = []
        for i in indexes:
            key, value, headers, gz = makers[i]()
            producer = packed if gz else plain
            pending.append((i, await producer.send(topic, value, key=key, headers=headers or None)))
            if len(pending) >= 1000:
                await _settle(pending, inputs, seen)
        await _settle(pending, inputs, seen)
    finally:
        await plain.stop()
        await packed.stop()


async def _settle(pending: list[tuple[int, Any]], inputs: list[Input], seen: Observed) -> None:
    for i, future in pending:
        meta = await future
        inputs[i].partition, inputs[i].offset = meta.partition, meta.offset
        seen.by_position[(meta.partition, meta.offset)] = i
    pending.clear()
    seen.rematch()


async def monitor(workers: list[Worker], seen: Observed, stop: asyncio.Event, restart_exited: bool) -> None:
    """Every second: /health and /metrics of each live worker, memory, unexpected exits."""
    last_status: dict[str, str] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        while not stop.is_set():
            lag = 0.0
            for w in workers:
                if w.proc is None:
                    continue
                if not w.alive():
                    if not w.expected_exit:
                        print(f"  !! {w.name} exited with code {w.proc.returncode}; starting it again", flush=True)
                        seen.health["unexpected exit"] += 1
                        if restart_exited:
                            w.start()
                    continue
                status = "unreachable"
                try:
                    async with http.get(w.url + "/health") as response:
                        body = await response.json(content_type=None)
                        status = "ok" if response.status == 200 else f"{response.status}"
                        if response.status != 200:
                            seen.health_reasons[_reason_shape(body.get("reason", ""))] += 1
                    async with http.get(w.url + "/metrics") as response:
                        metrics = await response.text()
                    samples = _samples(metrics)
                    crashes = sum(v for _, v in samples.get("newsevents_agent_crashes_total", ()))
                    w.crashes_seen = max(w.crashes_seen, crashes)
                    lag += sum(v for _, v in samples.get("newsevents_consumer_lag", ()))
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    pass
                seen.health[status] += 1
                if last_status.get(w.name) != status:
                    seen.health_log.append((time.time(), w.name, status))
                    last_status[w.name] = status
            seen.lag = lag
            sizes = [w.rss_mb() for w in workers]
            own, total = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
            if total:
                seen.rss.append((seen.done / max(1, len(seen.inputs)), own, total))
            await asyncio.sleep(1.0)


def _samples(metrics: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A /metrics page read once: each sample name -> the labels and value of its samples."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _reason_shape(reason: str) -> str:
    """A reason without its numbers, so the same reason over time counts once."""
    return " ".join("N" if any(c.isdigit() for c in word) else word for word in reason.split())[:120]


async def wait_ready(
    worker: Worker, bootstrap: str, topics: Topics, *, probe: bool = True, timeout: float = 180
) -> None:
    """Until the worker answers on its web port and (with ``probe``) has classified a probe article."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        while True:
            if not worker.alive():
                raise RuntimeError(f"{worker.name} exited while starting:\n{worker.log_path.read_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(worker.url + "/health"):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name} did not answer in time")
            await asyncio.sleep(0.5)
    if not probe:
        return
    probe_id = f"probe-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.raw,
            json.dumps({"id": probe_id, "title": "Probe", "text": "A probe."}).encode(),
            key=probe_id.encode(),
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topics.classified, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            if any(r.key == probe_id.encode() for rs in batch.values() for r in rs):
                return
        raise RuntimeError(f"{worker.name} classified no probe in time:\n{worker.log_path.read_text()[-3000:]}")
    finally:
        await consumer.stop()


@dataclass
class Fault:
    name: str
    at: float = 0.0  # wall time the fault was injected
    restored: float = 0.0  # wall time the broker was ready again / the new worker started
    partitions: set[int] = field(default_factory=set)  # raw partitions the killed worker held (two-workers)
    notes: list[str] = field(default_factory=list)


async def held_partitions(worker: Worker, topic: str) -> set[int]:
    """The partitions of ``topic`` a worker holds, from its consumer-lag series."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.get(worker.url + "/metrics") as response,
    ):
        metrics = await response.text()
    return {
        int(labels["partition"])
        for labels, _ in _samples(metrics).get("newsevents_consumer_lag", ())
        if labels.get("topic") == topic
    }


async def inject(scenario: str, broker: LocalBroker, workers: list[Worker], down: float) -> Fault:
    fault = Fault(scenario)
    fault.at = time.time()
    if scenario == "worker-kill":
        workers[0].kill()
        workers[0].start()
        fault.restored = time.time()
    elif scenario == "worker-term":
        workers[0].stop()  # SIGTERM: what a deploy or a scale-down does
        fault.notes.append(f"stopped in {time.time() - fault.at:.1f} s, exit code {workers[0].proc.returncode}")
        workers[0].start()
        fault.restored = time.time()
    elif scenario == "two-workers":
        # Kill the one running the story stage: the survivor must take it over too (and rebuild its index).
        topics = Topics(workers[0].prefix)
        holders = [w for w in workers if await held_partitions(w, topics.stories)]
        victim = holders[0] if holders else workers[1]
        fault.partitions = await held_partitions(victim, topics.raw)
        fault.notes.append(f"killed {victim.name}" + (", which ran the story stage" if holders else ""))
        fault.at = time.time()
        victim.kill()
        victim.proc = None  # not restarted: the survivor takes its partitions
        fault.restored = fault.at
    elif scenario in ("broker-term", "broker-kill"):
        assert broker.pid is not None
        if scenario == "broker-kill":
            os.kill(broker.pid, signal.SIGKILL)
        broker.stop(timeout=60)  # SIGTERM (after a SIGKILL: only collects the exit code)
        fault.notes.append(f"broker down at {time.time() - fault.at:.1f} s")
        await asyncio.sleep(down)
        broker.start()
        await asyncio.to_thread(broker.wait_ready, 180)
        fault.restored = time.time()
    elif scenario == "model-kill":
        for n in range(3):
            found = workers[0].model_processes()
            if not found:
                fault.notes.append(f"kill {n + 1}: no model process found")
            for pid in found:
                os.kill(pid, signal.SIGKILL)
            fault.notes.append(f"kill {n + 1}: model process {found}")
            await asyncio.sleep(4)
        fault.restored = fault.at
    return fault


@dataclass
class Report:
    scenario: str
    inputs: int
    adversarial: int
    kinds: int
    lost: int
    duplicates: int
    unmatched: int
    malformed: int
    first_new_output_s: float | None
    caught_up_s: float | None
    takeover_s: float | None
    crashes: float
    unexpected_exits: int
    health: dict
    health_reasons: dict
    rss: dict
    outage_log: dict
    dead_reasons: dict
    story_stage_deadletters: int
    elapsed_s: float
    lost_examples: list[str]
    notes: list[str]
    kinds_seen: dict[str, dict[str, int]]  # kind -> outcome -> inputs
    health_changes: list[str]  # "<seconds after the first input> <worker> <status>"


async def run_scenario(
    scenario: str,
    broker: LocalBroker,
    work: Path,
    *,
    good: int,
    rounds: int,
    big_every: int,
    down: float,
    timeout: float,
) -> Report:
    run = scenario.replace("-", "")[:6] + uuid.uuid4().hex[:4]
    topics = Topics(f"fz{run}")
    print(f"\n== {scenario}: building inputs", flush=True)
    inputs, makers = build_inputs(run, good, rounds, big_every, seed=zlib.crc32(scenario.encode()))
    seen = Observed(inputs, by_key={entry.expected: i for i, entry in enumerate(inputs) if entry.expected is not None})
    n = len(inputs)
    print(
        f"   {n} inputs: {good} good articles, {n - good} adversarial of {len({i.kind for i in inputs}) - 1} kinds, "
        f"{sum(i.size for i in inputs) / 1e6:.0f} MB",
        flush=True,
    )
    count = 2 if scenario == "two-workers" else 1
    workers = [Worker(f"{scenario}-w{k}", broker.bootstrap, topics.prefix, work) for k in range(count)]
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    started = time.monotonic()
    fault: Fault | None = None
    try:
        for w in workers:
            w.start()
        for w in workers:
            await wait_ready(w, broker.bootstrap, topics)
        print(f"   {count} worker(s) ready in {time.monotonic() - started:.0f} s", flush=True)
        started = time.monotonic()
        seen.started_at = time.time()
        tasks.append(asyncio.create_task(read_outputs(broker.bootstrap, topics, seen, stop)))
        tasks.append(asyncio.create_task(monitor(workers, seen, stop, restart_exited=True)))
        split = int(n * 0.6) if scenario != "fuzz" else n
        await send(broker.bootstrap, topics.raw, inputs, makers, range(split), seen)
        if scenario != "fuzz":
            while seen.done < n * 0.25:
                if time.monotonic() - started > timeout:
                    raise RuntimeError("no progress before the fault")
                await asyncio.sleep(0.2)
            print(f"   fault '{scenario}' at {seen.done} of {n} inputs done", flush=True)
            fault = await inject(scenario, broker, workers, down)
            if scenario in ("worker-kill", "worker-term"):
                await wait_ready(workers[0], broker.bootstrap, topics, probe=False)
            await send(broker.bootstrap, topics.raw, inputs, makers, range(split, n), seen)
        # Everything accounted for, then a quiet spell with no lag, to catch late duplicates.
        shown = time.monotonic()
        while time.monotonic() - started < timeout:
            quiet = time.monotonic() - seen.last_output_at
            if seen.done == n and seen.lag == 0 and quiet > 8:
                break
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                print(
                    f"   {shown - started:4.0f} s: {seen.done} of {n} inputs have an output, lag {seen.lag:.0f}, "
                    f"unmatched {len(seen.unmatched)}",
                    flush=True,
                )
            await asyncio.sleep(1.0)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        for w in workers:
            if w.alive():
                w.stop()
    elapsed = time.monotonic() - started
    return _report(scenario, seen, workers, fault, good, elapsed)


def _report(
    scenario: str, seen: Observed, workers: list[Worker], fault: Fault | None, good: int, elapsed: float
) -> Report:
    inputs = seen.inputs
    lost = [i for i in inputs if i.outputs == 0]
    first_new = caught_up = takeover = None
    outage_log: dict[str, Any] = {}
    notes = list(fault.notes) if fault else []
    if fault is not None:
        after = sorted(t for t in seen.append_times if t > fault.at)
        if after:
            first_new = after[0] - fault.at
            caught_up = after[-1] - fault.at
        if fault.partitions:
            moved = sorted(i.first_at for i in inputs if i.partition in fault.partitions and i.first_at > fault.at)
            takeover = moved[0] - fault.at if moved else None
            notes.append(f"the killed worker held raw partitions {sorted(fault.partitions)}")
        notes.append(f"fault at {fault.at - seen.started_at:.0f} s")
        doubled = [i for i in inputs if i.outputs > 1]
        if doubled:
            by_partition = Counter(i.partition for i in doubled)
            firsts = sorted(i.first_at - fault.at for i in doubled)
            seconds = sorted(i.last_at - fault.at for i in doubled)
            notes.append(
                f"duplicates by raw partition {dict(sorted(by_partition.items()))}; first copies "
                f"{firsts[0]:.1f} to {firsts[-1]:.1f} s after the fault, second copies {seconds[0]:.1f} to "
                f"{seconds[-1]:.1f} s; by kind: {dict(Counter(i.outcome for i in doubled))}"
            )
        if fault.restored > fault.at:
            notes.append(f"restored {fault.restored - fault.at:.1f} s after the fault")
            later = [t for t in after if t > fault.restored]
            if later:
                notes.append(f"first output after the restore {later[0] - fault.restored:.1f} s after it")
        for w in workers:
            during = w.log_records(fault.at, max(fault.restored, fault.at))
            since = w.log_records(fault.at)
            outage_log[w.name] = {
                "records_during_fault": len(during),
                "warnings_during_fault": sum(_warning(line) for line in during),
                "records_to_the_end": len(since),
                "warnings_to_the_end": sum(_warning(line) for line in since),
                "warning_lines": [_short(line) for line in since if _warning(line)][:15],
            }
    rss = seen.rss
    memory: dict[str, float] = {}
    if rss:
        memory = {
            "worker_start_mb": round(rss[0][1]),
            "worker_max_mb": round(max(r[1] for r in rss)),
            "worker_end_mb": round(rss[-1][1]),
            "with_model_process_max_mb": round(max(r[2] for r in rss)),
        }
        halfway = [r[1] for r in rss if 0.45 <= r[0] <= 0.55]
        if halfway:
            memory["worker_halfway_mb"] = round(statistics.median(halfway))
    return Report(
        scenario=scenario,
        inputs=len(inputs),
        adversarial=len(inputs) - good,
        kinds=len({i.kind for i in inputs if i.kind != "good article"}),
        lost=len(lost),
        duplicates=sum(max(0, i.outputs - 1) for i in inputs),
        unmatched=len(seen.unmatched),
        malformed=len(seen.malformed),
        first_new_output_s=round(first_new, 1) if first_new is not None else None,
        caught_up_s=round(caught_up, 1) if caught_up is not None else None,
        takeover_s=round(takeover, 1) if takeover is not None else None,
        crashes=max(sum(w.crashes_total + w.crashes_seen for w in workers), sum(w.crash_lines() for w in workers)),
        unexpected_exits=seen.health["unexpected exit"],
        health={k: v for k, v in seen.health.items() if k != "unexpected exit"},
        health_reasons=dict(seen.health_reasons),
        rss=memory,
        outage_log=outage_log,
        dead_reasons=dict(seen.dead_reasons),
        story_stage_deadletters=seen.story_stage_deadletters,
        elapsed_s=round(elapsed, 1),
        lost_examples=[f"{i.kind} @{i.partition}:{i.offset}" for i in lost[:10]]
        + seen.unmatched[:5]
        + seen.malformed[:5],
        notes=notes,
        kinds_seen=_by_kind(inputs),
        health_changes=[f"{at - seen.started_at:.0f} s {name} {status}" for at, name, status in seen.health_log],
    )


def _by_kind(inputs: list[Input]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = {}
    for entry in inputs:
        table.setdefault(entry.kind, Counter())[entry.outcome or "lost"] += 1
    return {kind: dict(outcomes) for kind, outcomes in table.items()}


def _warning(line: str) -> bool:
    return any(f"] [{level}] " in line for level in ("WARNING", "ERROR", "CRITICAL"))


def _short(line: str) -> str:
    return line if len(line) < 220 else line[:220] + "..."


def print_report(r: Report) -> None:
    takeover = "" if r.takeover_s is None else f"partitions taken over {r.takeover_s} s | "
    print(
        f"   {r.scenario}: inputs {r.inputs} ({r.adversarial} adversarial, {r.kinds} kinds) | lost {r.lost} | "
        f"duplicates {r.duplicates} | unmatched {r.unmatched} | malformed {r.malformed} | "
        f"first new output {r.first_new_output_s} s | caught up {r.caught_up_s} s | "
        f"{takeover}agent crashes {r.crashes:.0f} | "
        f"unexpected exits {r.unexpected_exits} | {r.elapsed_s:.0f} s",
        flush=True,
    )
    print(f"   /health answers: {r.health}; reasons: {r.health_reasons}", flush=True)
    print(f"   /health changes: {', '.join(r.health_changes)}", flush=True)
    print(f"   memory: {r.rss}", flush=True)
    print(f"   dead letters by reason: {r.dead_reasons}; from the story stage: {r.story_stage_deadletters}", flush=True)
    for name, log in r.outage_log.items():
        print(
            f"   log of {name} from the fault on: {log['records_during_fault']} records until the fault was over "
            f"({log['warnings_during_fault']} warnings or errors), {log['records_to_the_end']} to the end "
            f"({log['warnings_to_the_end']}):",
            flush=True,
        )
        for line in log["warning_lines"]:
            print(f"      {line}", flush=True)
    for note in r.notes:
        print(f"   note: {note}", flush=True)
    for example in r.lost_examples:
        print(f"   !! {example}", flush=True)
    if r.scenario == "fuzz":
        print("   outcome by kind (inputs):", flush=True)
        for kind, outcomes in sorted(r.kinds_seen.items()):
            print(f"      {kind:45s} {', '.join(f'{o} {n}' for o, n in sorted(outcomes.items()))}", flush=True)


SCENARIOS = ("fuzz", "worker-term", "worker-kill", "broker-term", "broker-kill", "two-workers", "model-kill")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--good", type=int, default=10000, help="good articles per scenario (fuzz: twice as many)")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of adversarial kinds per scenario (fuzz: 4x)")
    parser.add_argument("--big-every", type=int, default=10, help="payloads over 64 KB only every N rounds")
    parser.add_argument("--down", type=float, default=20.0, help="seconds the broker stays down after SIGTERM")
    parser.add_argument("--down-kill", type=float, default=40.0, help="seconds it stays down after SIGKILL")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, help="write the reports here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (broker data, worker logs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the harness's own clients retry through outages quietly

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    work = Path(tempfile.mkdtemp(prefix="newsevents-fuzz-"))
    broker = LocalBroker(
        work / "kafka",
        port=0,
        jars_dir=ensure_kafka_jars(default_cache_dir()),
        # The broker's clock on every record: recovery times are when outputs became durable.
        overrides={"log.message.timestamp.type": "LogAppendTime"},
    )
    reports = []
    try:
        broker.start()
        broker.wait_ready(timeout=180)
        print(f"broker ready at {broker.bootstrap}; work folder {work}", flush=True)
        for scenario in scenarios:
            fuzz = scenario == "fuzz"
            report = asyncio.run(
                run_scenario(
                    scenario,
                    broker,
                    work,
                    good=args.good * (2 if fuzz else 1),
                    rounds=args.rounds * (4 if fuzz else 1),
                    big_every=args.big_every,
                    down=args.down_kill if scenario == "broker-kill" else args.down,
                    timeout=args.timeout,
                )
            )
            print_report(report)
            reports.append(report)
        print("\nscenario      inputs  lost  duplicates  first new output  caught up  agent crashes")
        for r in reports:
            print(
                f"{r.scenario:12s} {r.inputs:7d} {r.lost:5d} {r.duplicates:11d} "
                f"{'-' if r.first_new_output_s is None else f'{r.first_new_output_s:.1f} s':>17s} "
                f"{'-' if r.caught_up_s is None else f'{r.caught_up_s:.0f} s':>10s} {r.crashes:14.0f}"
            )
        if args.json:
            args.json.write_text(json.dumps([r.__dict__ for r in reports], indent=2))
        return 1 if any(r.lost or r.unmatched or r.malformed or r.crashes for r in reports) else 0
    finally:
        broker.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
