"""`newsevents produce` and `newsevents tail` against the real broker and worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.integration


def _cli(worker, *args, stdin: bytes = b"", timeout: float = 60):
    env = {
        **os.environ,
        "NEWSEVENTS_BROKER": worker.bootstrap,
        "NEWSEVENTS_TOPIC_PREFIX": worker.topics.prefix,
        "NEWSEVENTS_MODEL": str(worker.model_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "newsevents.cli", *args], input=stdin, capture_output=True, timeout=timeout, env=env
    )


def test_produce_reports_sent_and_refused_then_tail_shows_the_result(worker, tmp_path):
    article_id = f"cli-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "articles.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": article_id,
                "title": "Kestrel Air appoints Ana Ruiz as chief executive",
                "text": "Kestrel Air named Ana Ruiz chief executive officer on Monday.",
            }
        )
        + "\nnot json\n"
    )
    produced = _cli(worker, "produce", str(path))
    assert produced.returncode == 1  # something was refused
    assert b"sent 1 article(s)" in produced.stderr and b"refused 1" in produced.stderr

    tailed = _cli(worker, "tail", "classified", "--json", "--from-beginning", "--timeout", "15", "--max", "100000")
    assert tailed.returncode == 0
    lines = [json.loads(line) for line in tailed.stdout.decode().splitlines()]
    mine = [line for line in lines if line["key"] == article_id]
    assert mine and mine[0]["value"]["schema"] == "newsevents.classified/v1"
    assert "leadership_change" in {e["type"] for e in mine[0]["value"]["events"]}


def test_produce_to_an_unreachable_broker_is_one_clear_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "x"}\n')
    env = {**os.environ, "NEWSEVENTS_BROKER": "127.0.0.1:1"}
    proc = subprocess.run(
        [sys.executable, "-m", "newsevents.cli", "produce", str(path)], capture_output=True, timeout=60, env=env
    )
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "cannot reach Kafka" in err[0] and "Traceback" not in proc.stderr.decode()
