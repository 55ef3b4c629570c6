"""Secured clusters: the local broker with SASL/SCRAM over TLS (a CA made here), and mutual TLS.

Every client the project opens is pointed at it through the NEWSEVENTS_SECURITY_*,
NEWSEVENTS_SASL_* and NEWSEVENTS_SSL_* settings: `produce`, `tail`, the worker
(Faust, topic creation) and its dashboard feed. The password is a unique
string, looked for in every output, log and web page.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from newsevents.streams.broker import BrokerTls, LocalBroker, default_cache_dir, ensure_kafka_jars, free_port
from newsevents.streams.clients import security_args
from newsevents.streams.processes import stop_gracefully, wait_for_http

pytestmark = pytest.mark.integration

USER = "alice"
PASSWORD = f"pw-{uuid.uuid4().hex}"  # unique: any appearance in an output is a leak


@dataclass
class Pki:
    ca: Path
    broker_cert: Path
    broker_key: Path  # PKCS#8, the form Kafka reads
    client_cert: Path
    client_key: Path


def _pkcs8(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    broker = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("newsevents-test-client")
    files = Pki(*(folder / name for name in ("ca.pem", "broker.pem", "broker.key", "client.pem", "client.key")))
    ca.cert_pem.write_to_path(str(files.ca))
    files.broker_cert.write_bytes(b"".join(pem.bytes() for pem in broker.cert_chain_pems))
    files.broker_key.write_bytes(_pkcs8(broker.private_key_pem.bytes()))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


@pytest.fixture(scope="module")
def sasl_ssl_broker(pki, tmp_path_factory):
    broker = LocalBroker(
        tmp_path_factory.mktemp("kafka-sasl-ssl"),
        port=0,
        jars_dir=ensure_kafka_jars(default_cache_dir()),
        scram_users={USER: PASSWORD},
        tls=BrokerTls(pki.broker_cert, pki.broker_key, pki.ca),
    )
    broker.start()
    try:
        broker.wait_ready(timeout=120)
        yield broker
    finally:
        broker.stop()


def _env(broker: LocalBroker, prefix: str, **security: str) -> dict[str, str]:
    """The environment of a command run against ``broker``; no security setting is inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSEVENTS_SASL_", "NEWSEVENTS_SSL_"))}
    env.pop("NEWSEVENTS_SECURITY_PROTOCOL", None)
    env.update({"NEWSEVENTS_BROKER": broker.bootstrap, "NEWSEVENTS_TOPIC_PREFIX": prefix})
    env.update({f"NEWSEVENTS_{k}": v for k, v in security.items()})
    return env


def _scram(pki: Pki, mechanism: str = "SCRAM-SHA-256", password: str = PASSWORD) -> dict[str, str]:
    return {
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": mechanism,
        "SASL_USERNAME": USER,
        "SASL_PASSWORD": password,
        "SSL_CAFILE": str(pki.ca),
    }


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "newsevents.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc


def _article(article_id: str) -> str:
    return json.dumps(
        {
            "id": article_id,
            "title": "Kestrel Air appoints Ana Ruiz as chief executive",
            "text": "Kestrel Air named Ana Ruiz chief executive officer on Monday, succeeding Tom Hale.",
        }
    )


def test_scram_over_tls_works_with_credentials_and_the_test_ca(sasl_ssl_broker, pki):
    prefix = "sec" + uuid.uuid4().hex[:6]
    article_id = f"sec-{uuid.uuid4().hex[:8]}"
    sent = _cli(_env(sasl_ssl_broker, prefix, **_scram(pki)), "produce", "-", stdin=_article(article_id) + "\n")
    assert sent.returncode == 0, sent.stderr
    assert "sent 1 article(s)" in sent.stderr
    # Another mechanism the broker offers, by the same user.
    tailed = _cli(
        _env(sasl_ssl_broker, prefix, **_scram(pki, "SCRAM-SHA-512")),
        "tail",
        "raw",
        "--json",
        "--from-beginning",
        "--max",
        "1",
        "--timeout",
        "30",
    )
    assert tailed.returncode == 0, tailed.stderr
    [line] = tailed.stdout.splitlines()
    assert json.loads(line)["key"] == article_id


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ({}, "over PLAINTEXT: the broker closed the connection"),
        ({"SASL_PASSWORD": "wrong-password"}, "the broker refused the SASL credentials of 'alice' with SCRAM-SHA-256"),
        ({"SSL_CAFILE": ""}, "the broker's TLS certificate is not trusted (set NEWSEVENTS_SSL_CAFILE"),
    ],
    ids=["no-credentials", "wrong-password", "no-test-ca"],
)
def test_the_secured_broker_refuses_clients_in_one_clear_line(sasl_ssl_broker, pki, security, expected):
    settings = {**_scram(pki), **security} if security else {}
    env = _env(sasl_ssl_broker, "refused", **{k: v for k, v in settings.items() if v})
    for command in (["produce", "-"], ["tail", "--timeout", "5"]):
        proc = _cli(env, *command, stdin=_article("refused") + "\n")
        assert proc.returncode == 1
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith(f"newsevents: error: cannot reach Kafka at {sasl_ssl_broker.bootstrap} over ")
        assert expected in line
        assert "wrong-password" not in line


def _dashboard_shows(url: str, article_id: str, timeout: float) -> bool:
    """Read the dashboard's event stream until an article card with ``article_id`` arrives."""
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(url + "/dashboard/events", timeout=20) as stream:
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            if line.startswith("data:") and article_id in line:
                return True
    return False


async def _read_classified(broker: LocalBroker, topic: str, article_id: str, timeout: float) -> dict | None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **security_args(broker.client_security()),
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for record in (r for records in batches.values() for r in records):
                    if record.key == article_id.encode():
                        return json.loads(record.value)
    except TimeoutError:
        return None
    finally:
        await consumer.stop()


@pytest.mark.timeout(300)
def test_worker_classifies_on_a_secured_broker_and_never_shows_the_password(sasl_ssl_broker, pki, tmp_path):
    """SASL/PLAIN on purpose: its authentication request carries the password itself,
    and the worker runs at debug level, where the Kafka client logs every request."""
    prefix = "sw" + uuid.uuid4().hex[:6]
    port = free_port()
    env = _env(sasl_ssl_broker, prefix, **_scram(pki, "PLAIN"))
    env.update(
        {
            "NEWSEVENTS_APP_ID": f"{prefix}-worker",
            "NEWSEVENTS_PARTITIONS": "2",
            "NEWSEVENTS_WEB_PORT": str(port),
            "NEWSEVENTS_DATA_DIR": str(tmp_path / "data"),
        }
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsevents.cli", "worker", "-l", "debug"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(url + "/health", proc, timeout=120)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}:\n{log_path.read_text(errors='replace')[-3000:]}") from None
        article_id = f"sw-{uuid.uuid4().hex[:8]}"
        sent = _cli(env, "produce", "-", stdin=_article(article_id) + "\n")
        assert sent.returncode == 0, sent.stderr
        classified = asyncio.run(_read_classified(sasl_ssl_broker, f"{prefix}.articles.classified", article_id, 90))
        assert classified is not None, log_path.read_text(errors="replace")[-3000:]
        assert "leadership_change" in {e["type"] for e in classified["events"]}
        # The dashboard feed is a Kafka client of its own: it must get in too.
        assert _dashboard_shows(url, article_id, timeout=60)
        pages = {
            path: urllib.request.urlopen(url + path, timeout=10).read().decode()
            for path in ("/health", "/stats", "/metrics")
        }
    finally:
        stop_gracefully(proc, timeout=30)
    log = log_path.read_text(errors="replace")
    assert "Authenticated as alice via PLAIN" in log  # the debug log did cover authentication
    assert PASSWORD not in log
    for path, body in pages.items():
        assert PASSWORD not in body, path


@pytest.mark.timeout(240)
def test_mutual_tls_needs_the_client_certificate(pki, tmp_path):
    broker = LocalBroker(
        tmp_path / "kafka",
        port=0,
        jars_dir=ensure_kafka_jars(default_cache_dir()),
        tls=BrokerTls(pki.broker_cert, pki.broker_key, pki.ca, client_auth=True),
    )
    with broker:
        assert broker.security_protocol == "SSL"
        tls = {"SECURITY_PROTOCOL": "SSL", "SSL_CAFILE": str(pki.ca)}
        with_cert = {**tls, "SSL_CERTFILE": str(pki.client_cert), "SSL_KEYFILE": str(pki.client_key)}
        sent = _cli(_env(broker, "mtls", **with_cert), "produce", "-", stdin=_article("mtls-1") + "\n")
        assert sent.returncode == 0, sent.stderr
        refused = _cli(_env(broker, "mtls", **tls), "produce", "-", stdin=_article("mtls-2") + "\n")
        assert refused.returncode == 1
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"newsevents: error: cannot reach Kafka at {broker.bootstrap} over SSL: ")


def test_the_broker_its_logs_and_its_client_settings_do_not_show_the_password(sasl_ssl_broker):
    assert PASSWORD not in repr(sasl_ssl_broker)
    assert PASSWORD not in repr(sasl_ssl_broker.client_security())
    log = sasl_ssl_broker.server_log.read_text(errors="replace")
    assert "ssl.keystore.key = [hidden]" in log  # Kafka logged its settings, masking secrets
    assert PASSWORD not in log
    # The settings file holds it (Kafka reads it from there): this user only.
    assert (sasl_ssl_broker.data_dir / "server.properties").stat().st_mode & 0o077 == 0
