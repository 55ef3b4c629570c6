"""The Kafka jar lock and its fetcher, against a small Maven repository served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from newsevents.streams.jars import (
    ATTEMPTS,
    KAFKA_VERSION,
    JarError,
    JarLock,
    LockedJar,
    fetch_jars,
    jars_folder,
    load_lock,
)


@dataclass
class FakeRepository:
    """Files by repository path, with faults to inject and a log of what was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    fail_with: dict[str, list[int]] = field(default_factory=dict)  # path -> HTTP codes to answer first
    cut_after: dict[str, list[int]] = field(default_factory=dict)  # path -> close after N bytes, once per entry
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    any_path: bytes | None = None  # serve these bytes for every path
    chunk_delay: float = 0.0  # seconds between 8 KiB chunks: a slow network
    url: str = ""


def _handler(repo: FakeRepository) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            repo.requests.append((path, self.headers.get("Range")))
            if repo.fail_with.get(path):
                self.send_error(repo.fail_with[path].pop(0))
                return
            body = repo.any_path if repo.any_path is not None else repo.files.get(path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            part = body[start:]
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            cuts = repo.cut_after.get(path)
            if cuts:
                # Promise the whole length, send part of it, hang up: a dropped connection.
                self.wfile.write(part[: cuts.pop(0)])
                self.wfile.flush()
                self.close_connection = True
                return
            for start in range(0, len(part), 8192):
                self.wfile.write(part[start : start + 8192])
                time.sleep(repo.chunk_delay)

    return Handler


@pytest.fixture
def repo() -> Iterator[FakeRepository]:
    fake = FakeRepository()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/maven2"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _jar(repo: FakeRepository, group: str, artifact: str, size: int) -> LockedJar:
    content = hashlib.sha256(artifact.encode()).digest() * (size // 32 + 1)
    content = content[:size]
    jar = LockedJar(group, artifact, "1.0", size, hashlib.sha256(content).hexdigest())
    repo.files["maven2/" + jar.repository_path] = content
    return jar


@pytest.fixture
def lock(repo: FakeRepository) -> JarLock:
    return JarLock(
        "9.9.9",
        (
            _jar(repo, "org.example", "alpha", 200_000),
            _jar(repo, "org.example.deep", "beta", 70_000),
            _jar(repo, "com.example", "gamma", 5_000),
        ),
    )


def _no_sleep(seconds: float) -> None:
    pass


def _content(repo: FakeRepository, jar: LockedJar) -> bytes:
    return repo.files["maven2/" + jar.repository_path]


def test_fetch_downloads_every_jar_then_reuses_the_cache_without_network(repo, lock, tmp_path):
    dest = tmp_path / "jars"
    progress: list[int] = []
    fetched = fetch_jars(lock, dest, repository=repo.url, progress=progress.append)
    assert {j.filename for j in fetched} == {"alpha-1.0.jar", "beta-1.0.jar", "gamma-1.0.jar"}
    for jar in lock.jars:
        assert (dest / jar.filename).read_bytes() == _content(repo, jar)
    assert sum(progress) == lock.total_size
    assert not list((dest / ".partial").iterdir())  # nothing half-written left behind

    repo.requests.clear()
    assert fetch_jars(lock, dest, repository="http://127.0.0.1:1/unreachable") == []
    assert repo.requests == []


def test_a_corrupt_cached_jar_is_fetched_again(repo, lock, tmp_path):
    dest = tmp_path / "jars"
    fetch_jars(lock, dest, repository=repo.url)
    beta = lock.jars[1]
    data = bytearray((dest / beta.filename).read_bytes())
    data[1000] ^= 0xFF  # same size, one flipped byte
    (dest / beta.filename).write_bytes(bytes(data))
    repo.requests.clear()

    assert fetch_jars(lock, dest, repository=repo.url) == [beta]
    assert [path for path, _ in repo.requests] == ["maven2/" + beta.repository_path]
    assert (dest / beta.filename).read_bytes() == _content(repo, beta)


def test_a_digest_mismatch_is_refused_in_one_line_and_nothing_is_cached(repo, lock, tmp_path):
    gamma = lock.jars[2]
    repo.files["maven2/" + gamma.repository_path] = b"x" * gamma.size  # right size, wrong bytes
    dest = tmp_path / "jars"
    with pytest.raises(JarError) as refused:
        fetch_jars(lock, dest, repository=repo.url, sleep=_no_sleep)
    message = str(refused.value)
    assert "\n" not in message
    assert "SHA-256 mismatch for com.example:gamma:1.0" in message and gamma.sha256[:12] in message
    assert not (dest / gamma.filename).exists()
    assert not (dest / ".partial" / gamma.filename).exists()
    # The other jars were good and are kept.
    assert (dest / "alpha-1.0.jar").read_bytes() == _content(repo, lock.jars[0])


def test_a_dropped_connection_resumes_where_it_stopped(repo, lock, tmp_path):
    alpha = lock.jars[0]
    path = "maven2/" + alpha.repository_path
    repo.cut_after[path] = [60_000, 50_000]
    fetch_jars(lock, tmp_path / "jars", repository=repo.url, sleep=_no_sleep)
    ranges = [r for p, r in repo.requests if p == path]
    assert ranges == [None, "bytes=60000-", "bytes=110000-"]
    assert (tmp_path / "jars" / alpha.filename).read_bytes() == _content(repo, alpha)


def test_server_errors_are_retried_then_reported_with_the_partial_kept_for_the_next_run(repo, lock, tmp_path):
    beta = lock.jars[1]
    path = "maven2/" + beta.repository_path
    repo.fail_with[path] = [503, 502]
    fetch_jars(lock, tmp_path / "a", repository=repo.url, sleep=_no_sleep)
    assert [p for p, _ in repo.requests].count(path) == 3

    # A download that keeps breaking gives up with one line, and keeps what arrived.
    repo.cut_after[path] = [1_000] * ATTEMPTS
    dest = tmp_path / "b"
    with pytest.raises(JarError, match=rf"could not download org\.example\.deep:beta:1\.0 .* after {ATTEMPTS}"):
        fetch_jars(lock, dest, repository=repo.url, sleep=_no_sleep)
    assert (dest / ".partial" / beta.filename).stat().st_size == ATTEMPTS * 1_000
    assert not (dest / beta.filename).exists()
    repo.requests.clear()
    fetch_jars(lock, dest, repository=repo.url, sleep=_no_sleep)
    assert repo.requests == [(path, f"bytes={ATTEMPTS * 1_000}-")]
    assert (dest / beta.filename).read_bytes() == _content(repo, beta)


def test_ctrl_c_stops_the_downloads_and_the_next_run_resumes_them(repo, lock, tmp_path):
    repo.chunk_delay = 0.02
    dest = tmp_path / "jars"
    received = [0]

    def progress(n: int) -> None:
        received[0] += n
        if received[0] >= 40_000 and received[0] - n < 40_000:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered to the main thread

    # A runner started in the background inherits SIGINT ignored; Ctrl-C at a terminal raises.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            fetch_jars(lock, dest, repository=repo.url, progress=progress)
    finally:
        signal.signal(signal.SIGINT, previous)
    # Downloads run in parallel: whichever were under way are kept, partly, and none is complete.
    partial = {
        jar: (dest / ".partial" / jar.filename).stat().st_size
        for jar in lock.jars
        if (dest / ".partial" / jar.filename).exists()
    }
    partial = {jar: kept for jar, kept in partial.items() if kept > 0}
    assert partial and all(kept < jar.size for jar, kept in partial.items())
    assert not any((dest / jar.filename).exists() for jar in partial)

    repo.chunk_delay = 0.0
    repo.requests.clear()
    fetch_jars(lock, dest, repository=repo.url)
    for jar, kept in partial.items():
        assert ("maven2/" + jar.repository_path, f"bytes={kept}-") in repo.requests
    for jar in lock.jars:
        assert (dest / jar.filename).read_bytes() == _content(repo, jar)


def test_a_missing_artifact_fails_at_once_naming_the_setting(repo, lock, tmp_path):
    del repo.files["maven2/" + lock.jars[2].repository_path]
    with pytest.raises(JarError, match=r"com\.example:gamma:1\.0 is not at .* \(HTTP 404\): is NEWSEVENTS_MAVEN_URL"):
        fetch_jars(lock, tmp_path / "jars", repository=repo.url, sleep=_no_sleep)


def test_jars_not_in_the_lock_are_removed_from_the_folder(repo, lock, tmp_path):
    dest = tmp_path / "jars"
    dest.mkdir()
    (dest / "evil-1.0.jar").write_bytes(b"class path injection")
    fetch_jars(lock, dest, repository=repo.url)
    assert sorted(p.name for p in dest.glob("*.jar")) == ["alpha-1.0.jar", "beta-1.0.jar", "gamma-1.0.jar"]


def test_the_shipped_lock_pins_every_jar_of_the_broker():
    lock = load_lock()
    assert lock.kafka_version == KAFKA_VERSION
    coordinates = {jar.coordinates for jar in lock.jars}
    assert f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}" in coordinates
    assert f"org.apache.kafka:kafka-clients:{KAFKA_VERSION}" in coordinates
    assert any(c.startswith("org.apache.logging.log4j:log4j-slf4j-impl:") for c in coordinates)
    assert len(lock.jars) == 46
    assert all(re.fullmatch(r"[0-9a-f]{64}", jar.sha256) for jar in lock.jars)
    assert 40e6 < lock.total_size < 50e6


def test_an_unlocked_kafka_version_says_how_to_lock_it():
    with pytest.raises(JarError, match=r"no jar lock for Apache Kafka 3\.0\.0 .*tools/lock_kafka_jars\.py 3\.0\.0"):
        load_lock("3.0.0")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsevents.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_fetch_only_refuses_jars_that_do_not_match_the_lock(repo, tmp_path):
    repo.any_path = b"this is not the jar the lock pins"
    proc = _cli("broker", "--fetch-only", env={"NEWSEVENTS_CACHE": str(tmp_path), "NEWSEVENTS_MAVEN_URL": repo.url})
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("newsevents: error: SHA-256 mismatch for ") and "nothing was written" in line
    assert not list(jars_folder(tmp_path).glob("*.jar"))


def test_a_bad_repository_url_is_one_line():
    url = "ftp://mirror.invalid/maven2"
    proc = _cli("broker", "--fetch-only", env={"NEWSEVENTS_MAVEN_URL": url})
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"newsevents: error: NEWSEVENTS_MAVEN_URL={url!r} is not an http(s) URL"
