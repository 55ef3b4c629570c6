"""The model in a child process: same answers as in-process, and a dying child loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from newsevents.config import Topics
from newsevents.model.artifact import ArtifactError
from newsevents.streams.envelope import Envelope
from newsevents.streams.executor import ModelHost, Processing, ProcessRunner, ThreadRunner
from newsevents.streams.pipeline import RawRecord

TOPICS = Topics("news")


def records(n: int, sentences: int = 1) -> list[RawRecord]:
    text = " ".join(f"Northwind agreed to buy Harbor, its rival number {k}." for k in range(sentences))
    values = [json.dumps({"id": f"a{i}", "title": f"Northwind buys Harbor {i}", "text": text}) for i in range(n)]
    return [RawRecord(value=v.encode(), topic="news.articles.raw", partition=0, offset=i) for i, v in enumerate(values)]


def primary_ids(result) -> list[str]:
    """The article id of each record's primary output (a story envelope or a dead letter), in order."""
    ids = []
    for output in result.outputs:
        value = Envelope.from_bytes(output.value).prefix + b"}" if output.topic == TOPICS.stories else output.value
        ids.append(json.loads(value).get("id"))
    return ids


async def test_a_child_process_answers_like_the_worker_would(artifact_dir):
    processing = Processing(TOPICS, 1 << 20)
    runner = ProcessRunner(processing)
    try:
        info = await runner.load(str(artifact_dir))
        result = await runner.process(records(5))
    finally:
        await runner.close()
    host = ModelHost(processing)
    host.load(str(artifact_dir))
    expected = host.process(records(5))
    assert info.name == "test-model" and result.classified == 5
    assert [o.topic for o in result.outputs] == [o.topic for o in expected.outputs]
    assert primary_ids(result) == [f"a{i}" for i in range(5)]


async def test_a_killed_child_is_replaced_and_the_batch_still_gets_one_output_per_record(artifact_dir):
    runner = ProcessRunner(Processing(TOPICS, 1 << 20))
    try:
        await runner.load(str(artifact_dir))
        pool = runner._pool
        assert pool is not None
        batch = records(600, sentences=30)  # about a second of work
        task = asyncio.create_task(runner.process(batch))
        await asyncio.sleep(0.05)  # the batch is on its way to the child, or in it
        [pid] = list(pool._processes)
        os.kill(pid, signal.SIGKILL)
        result = await task
    finally:
        await runner.close()
    assert runner.restarts >= 1
    assert primary_ids(result) == [f"a{i}" for i in range(600)]


async def _next_child(runner: ProcessRunner, old_pool) -> int:
    """The pid of the child that replaces ``old_pool``'s, as soon as it exists (it is still starting)."""
    for _ in range(3000):
        pool = runner._pool
        if pool is not None and pool is not old_pool and pool._processes:
            return next(iter(pool._processes))
        await asyncio.sleep(0.01)
    raise AssertionError("no replacement child started")


async def test_a_replacement_killed_while_it_loads_the_model_is_replaced_again(artifact_dir):
    runner = ProcessRunner(Processing(TOPICS, 1 << 20))
    try:
        await runner.load(str(artifact_dir))
        first = runner._pool
        assert first is not None
        task = asyncio.create_task(runner.process(records(300, sentences=30)))
        await asyncio.sleep(0.05)
        [pid] = list(first._processes)
        os.kill(pid, signal.SIGKILL)
        os.kill(await _next_child(runner, first), signal.SIGKILL)  # still importing or loading the model
        result = await task
    finally:
        await runner.close()
    assert runner.restarts >= 2
    assert primary_ids(result) == [f"a{i}" for i in range(300)]
    assert result.classified == 300  # the kills hit the processes, not the records: none is dead-lettered


async def test_a_refused_artifact_leaves_the_old_model_serving(artifact_dir, tmp_path):
    runner = ThreadRunner(Processing(TOPICS, 1 << 20))
    await runner.load(str(artifact_dir))
    with pytest.raises(ArtifactError):
        await runner.load(str(tmp_path / "missing"))
    result = await runner.process(records(1))
    assert result.classified == 1 and result.model_version


async def test_a_pinned_digest_refuses_any_other_model_file(artifact_dir):
    runner = ThreadRunner(Processing(TOPICS, 1 << 20, model_sha256="0" * 64))
    with pytest.raises(ArtifactError, match="not the pinned model"):
        await runner.load(str(artifact_dir))
