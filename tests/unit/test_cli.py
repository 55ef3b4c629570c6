"""The command line as a user meets it: real processes, real exit codes."""

import json
import subprocess
import sys

import pytest

from tests.schemas import assert_valid


def run(*args, stdin: bytes = b"", env=None):
    return subprocess.run(
        [sys.executable, "-m", "newsevents.cli", *args], input=stdin, capture_output=True, timeout=120, env=env
    )


def test_classify_answers_every_line_in_order(artifact_dir):
    lines = [
        b'{"id": "a", "title": "Northwind agrees to buy Harbor Snacks", "text": "Northwind will acquire Harbor."}',
        b"",
        b"\xff\xfe not utf-8",
        "Der Händler hat heute bekannt gegeben, dass er eine neue Filiale in Berlin eröffnen wird und dass "
        "die Umsätze gestiegen sind.".encode(),
        b"<html><script>" + b"var a = 1;" * 500 + b"</script><p></p></html>",
        b"x" * (11 * 1024 * 1024),
        b"A plain line of text about nothing much at all.",
    ]
    proc = run("classify", "--model", str(artifact_dir), stdin=b"\n".join(lines) + b"\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == len(lines)
    assert out[0]["id"] == "a" and out[0]["schema"] == "newsevents.classified/v1"
    assert out[1]["error"] == "no_text" and out[2]["error"] == "invalid_utf8"
    assert out[3]["events"] == [] and out[3]["reason"] == "not_english"
    assert out[4]["events"] == [] and out[4]["reason"] == "no_text"
    assert out[5]["error"] == "oversized"
    assert out[6]["schema"] == "newsevents.classified/v1"
    for value in out:
        if "schema" in value:
            assert_valid(value, "classified")


def test_tampered_artifact_is_refused_in_one_line(artifact_dir):
    model_file = artifact_dir / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    proc = run("classify", "--model", str(artifact_dir), stdin=b'{"text": "x"}\n')
    assert proc.returncode != 0
    err = proc.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "checksum mismatch" in err and "Traceback" not in err
    assert proc.stdout == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify", "/no/such/file.jsonl"], "no such file"),
        (["classify", "--model", "/no/such/model"], "no model artifact"),
        (["evaluate", "/no/such/file.jsonl", "--model", "{model}"], "no such file"),
        (["train", "/no/such/dir", "--output", "{tmp}/m"], "no such file"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, message, artifact_dir, tmp_path):
    args = [a.format(model=artifact_dir, tmp=tmp_path) for a in args]
    proc = run(*args)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_bad_environment_value_is_a_one_line_error():
    import os

    proc = run("classify", env={**os.environ, "NEWSEVENTS_MAX_ARTICLE_BYTES": "lots"})
    assert proc.returncode == 2 and b"NEWSEVENTS_MAX_ARTICLE_BYTES" in proc.stderr


def test_every_command_has_help():
    for command in ("classify", "train", "evaluate", "worker", "broker", "produce", "tail"):
        proc = run(command, "--help")
        assert proc.returncode == 0 and b"usage: newsevents " + command.encode() in proc.stdout


@pytest.mark.parametrize("command", [["worker"], ["tail", "--timeout", "2"], ["produce", "-"]])
def test_kafka_commands_without_a_broker_fail_in_one_line(command):
    import os

    proc = run(*command, stdin=b'{"text": "x"}\n', env={**os.environ, "NEWSEVENTS_BROKER": "127.0.0.1:1"})
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "cannot reach Kafka at 127.0.0.1:1" in err[0], err
