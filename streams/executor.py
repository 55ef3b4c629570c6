"""Where the model runs: in child processes (the default) or in a thread.

The classifier is CPU-bound Python and NumPy. In a thread of the worker it
competes with the event loop for the GIL, so fetching, publishing and
classifying take turns; in a child process it runs beside them. Each
:class:`ProcessRunner` owns one child with its own copy of the model and
classifies one batch at a time; the worker keeps as many runners as
``NEWSEVENTS_MODEL_PROCESSES`` says (0 means one :class:`ThreadRunner`).

A child that dies (killed, out of memory, a crash in native code) is replaced,
and the batch it was working on is retried in parts in a fresh child, down to
single records where a part fails again: a record that kills the child every
time gets an ``internal_error`` dead letter and the others are processed. Nothing here
imports Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsevents.config import Topics
from newsevents.model.artifact import ArtifactError, load_artifact
from newsevents.model.service import ArticleClassifier
from newsevents.streams.pipeline import BatchResult, RawRecord, internal_error_result, process_batch

log = logging.getLogger("newsevents.worker")

#: Children started in a row that may die while loading the model before the runner gives up.
MAX_START_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the worker needs to know about the model a runner serves."""

    name: str
    version: str
    taxonomy: tuple[str, ...]
    path: str


@dataclass(frozen=True, slots=True)
class Processing:
    """The per-batch settings a runner applies (the same in every child)."""

    topics: Topics
    max_bytes: int
    model_sha256: str | None = None


class ModelHost:
    """Holds the serving model and classifies batches with it (in whichever process it lives)."""

    def __init__(self, processing: Processing) -> None:
        self.processing = processing
        self.classifier: ArticleClassifier | None = None

    def load(self, path: str) -> ModelInfo:
        """Load and verify an artifact, and serve it; on failure keep serving the old one.

        Raises ArtifactError (one line) when the artifact is refused.
        """
        loaded = load_artifact(Path(path), expected_sha256=self.processing.model_sha256)
        self.classifier = ArticleClassifier(loaded)
        return ModelInfo(loaded.name, loaded.version, tuple(self.classifier.taxonomy), str(path))

    def process(self, records: Sequence[RawRecord]) -> BatchResult:
        if self.classifier is None:
            raise RuntimeError("no model loaded")
        p = self.processing
        return process_batch(records, self.classifier, p.topics, max_bytes=p.max_bytes)


class ModelRunner(Protocol):
    async def load(self, path: str) -> ModelInfo: ...

    async def process(self, records: Sequence[RawRecord]) -> BatchResult: ...

    async def close(self) -> None: ...


class ThreadRunner:
    """Runs the model in a thread of the worker process."""

    def __init__(self, processing: Processing) -> None:
        self._host = ModelHost(processing)

    async def load(self, path: str) -> ModelInfo:
        return await asyncio.to_thread(self._host.load, path)

    async def process(self, records: Sequence[RawRecord]) -> BatchResult:
        return await asyncio.to_thread(self._host.process, records)

    async def close(self) -> None:
        return None


# -- child process side -------------------------------------------------------
_HOST: ModelHost | None = None


def _watch_parent(parent: int) -> None:
    # A worker killed with SIGKILL cannot stop its children: leave when orphaned.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _child_start(processing: Processing, parent: int) -> None:
    global _HOST
    # Ctrl-C in a terminal reaches the whole process group; the worker decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    _HOST = ModelHost(processing)


def _child_load(path: str) -> ModelInfo:
    assert _HOST is not None
    return _HOST.load(path)


def _child_process(records: Sequence[RawRecord]) -> BatchResult:
    assert _HOST is not None
    return _HOST.process(records)


class ProcessRunner:
    """Runs the model in one child process; replaces the child when it dies."""

    def __init__(self, processing: Processing) -> None:
        self.processing = processing
        self._pool: ProcessPoolExecutor | None = None
        self._path: str | None = None
        self.restarts = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Kafka client, web server) that fork would copy mid-flight.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_start,
            initargs=(self.processing, os.getpid()),
        )

    async def _call(self, fn, *args):
        if self._pool is None:
            self._pool = self._new_pool()
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _replace_child(self) -> None:
        """A fresh child serving the current model. A child that dies while loading it
        (killed, out of memory) is replaced again, up to ``MAX_START_ATTEMPTS`` times in a row."""
        for attempt in range(MAX_START_ATTEMPTS):
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1
            if self._path is None:
                return
            try:
                await self._call(_child_load, self._path)
                return
            except BrokenProcessPool:
                log.error("a new model process died while loading the model; starting another")
                await asyncio.sleep(min(5.0, 0.5 * 2**attempt))
        raise BrokenProcessPool(f"the model process died {MAX_START_ATTEMPTS} times in a row while loading the model")

    async def load(self, path: str) -> ModelInfo:
        """Serve the artifact at ``path``; raises ArtifactError when it is refused, or when
        loading it killed the child twice (the child then serves the previous model again)."""
        try:
            info = await self._call(_child_load, path)
        except BrokenProcessPool:
            await self._replace_child()
            try:
                info = await self._call(_child_load, path)
            except BrokenProcessPool:
                await self._replace_child()
                raise ArtifactError(f"the model process died twice while loading {path}") from None
        self._path = path
        return info

    async def process(self, records: Sequence[RawRecord]) -> BatchResult:
        try:
            return await self._call(_child_process, records)
        except BrokenProcessPool:
            log.error("the model process died during a batch of %d records; retrying it in parts", len(records))
        await self._replace_child()
        # Chunks of about sqrt(n) records: a record that kills the child again
        # costs two more restarts (its chunk, then itself), not one per record.
        size = max(1, math.isqrt(len(records)))
        result = BatchResult()
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            try:
                result.merge(await self._call(_child_process, chunk))
                continue
            except BrokenProcessPool:
                await self._replace_child()
            for record in chunk:
                try:
                    result.merge(await self._call(_child_process, [record]))
                except BrokenProcessPool:
                    await self._replace_child()
                    detail = "the model process died on this record"
                    result.merge(internal_error_result(record, self.processing.topics, detail))
        return result

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_runners(processes: int, processing: Processing) -> list[ModelRunner]:
    """``processes`` child-process runners, or one thread runner when it is 0."""
    if processes <= 0:
        return [ThreadRunner(processing)]
    return [ProcessRunner(processing) for _ in range(processes)]


__all__ = [
    "ArtifactError",
    "ModelHost",
    "ModelInfo",
    "ModelRunner",
    "ProcessRunner",
    "Processing",
    "ThreadRunner",
    "make_runners",
]
