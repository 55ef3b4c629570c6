"""TLS and SASL settings: validation, the client arguments built from them, and secrets kept out of sight."""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from newsevents.config import ConfigError, KafkaSecurity, Settings
from newsevents.streams.clients import client_args, faust_credentials, hide_secret_in_logs, unreachable

SECRET = "pa55-w0rd-that-must-not-leak"


def _env(**values: str) -> dict[str, str]:
    return {f"NEWSEVENTS_{k}": v for k, v in values.items()}


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    client = ca.issue_cert("newsevents-client")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    return {"ca": folder / "ca.pem", "cert": folder / "client.pem", "key": folder / "client.key"}


def test_plaintext_is_the_default_and_adds_nothing():
    settings = Settings.from_env({})
    assert settings.security == KafkaSecurity()
    assert client_args(settings) == {"bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_ssl_with_scram_builds_every_client_argument(ca_files):
    settings = Settings.from_env(
        _env(
            BROKER="kafka://b1.example:9096,b2.example:9096",
            SECURITY_PROTOCOL="sasl_ssl",
            SASL_MECHANISM="scram-sha-512",
            SASL_USERNAME="alice",
            SASL_PASSWORD=SECRET,
            SSL_CAFILE=str(ca_files["ca"]),
        )
    )
    args = client_args(settings)
    context = args.pop("ssl_context")
    assert args == {
        "bootstrap_servers": "b1.example:9096,b2.example:9096",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": SECRET,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()]  # the test CA, not the system store
    credentials = faust_credentials(settings)
    assert (credentials.username, credentials.mechanism.value, credentials.protocol.value) == (
        "alice",
        "SCRAM-SHA-512",
        "SASL_SSL",
    )


def test_ssl_with_a_client_certificate_gives_faust_an_ssl_context(ca_files):
    settings = Settings.from_env(
        _env(
            SECURITY_PROTOCOL="SSL",
            SSL_CAFILE=str(ca_files["ca"]),
            SSL_CERTFILE=str(ca_files["cert"]),
            SSL_KEYFILE=str(ca_files["key"]),
        )
    )
    args = client_args(settings)
    assert args["security_protocol"] == "SSL" and "sasl_mechanism" not in args
    credentials = faust_credentials(settings)
    assert credentials.protocol.value == "SSL" and isinstance(credentials.context, ssl.SSLContext)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            _env(SECURITY_PROTOCOL="TLS"),
            "NEWSEVENTS_SECURITY_PROTOCOL='TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
        ),
        (
            _env(SECURITY_PROTOCOL="SASL_SSL", SASL_USERNAME="alice"),
            "NEWSEVENTS_SECURITY_PROTOCOL=SASL_SSL needs NEWSEVENTS_SASL_USERNAME and NEWSEVENTS_SASL_PASSWORD",
        ),
        (
            _env(SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_MECHANISM="GSSAPI", SASL_USERNAME="a", SASL_PASSWORD=SECRET),
            "NEWSEVENTS_SASL_MECHANISM='GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            _env(SASL_USERNAME="alice", SASL_PASSWORD=SECRET),
            "NEWSEVENTS_SASL_USERNAME is set but NEWSEVENTS_SECURITY_PROTOCOL=PLAINTEXT does not use SASL "
            "(use SASL_PLAINTEXT or SASL_SSL)",
        ),
        (
            _env(SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_USERNAME="a", SASL_PASSWORD=SECRET, SSL_CAFILE="/ca.pem"),
            "NEWSEVENTS_SSL_CAFILE is set but NEWSEVENTS_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS "
            "(use SSL or SASL_SSL)",
        ),
        (
            _env(SECURITY_PROTOCOL="SSL", SSL_CAFILE="/no/such/ca.pem"),
            "NEWSEVENTS_SSL_CAFILE='/no/such/ca.pem': no such file",
        ),
        (
            _env(SECURITY_PROTOCOL="SSL", SSL_KEYFILE="/client.key"),
            "NEWSEVENTS_SSL_KEYFILE is set without NEWSEVENTS_SSL_CERTFILE",
        ),
    ],
)
def test_bad_security_settings_are_one_line_errors_without_the_password(env, message):
    with pytest.raises(ConfigError) as bad:
        Settings.from_env(env)
    assert str(bad.value) == message
    assert SECRET not in str(bad.value)


def test_unusable_tls_files_name_the_setting_not_the_content(ca_files):
    # A file that exists but holds no certificate: found at connection time, reported like a setting.
    settings = Settings.from_env(_env(SECURITY_PROTOCOL="SSL", SSL_CAFILE=str(ca_files["key"])))
    with pytest.raises(ConfigError) as bad:
        client_args(settings)
    assert str(bad.value).startswith(f"cannot use the TLS files (NEWSEVENTS_SSL_CAFILE={ca_files['key']})")
    assert "PRIVATE KEY" not in str(bad.value) and "\n" not in str(bad.value)


def test_the_password_stays_out_of_reprs_and_messages():
    settings = Settings.from_env(
        _env(SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_MECHANISM="PLAIN", SASL_USERNAME="alice", SASL_PASSWORD=SECRET)
    )
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert settings.security.describe() == "SASL_PLAINTEXT (PLAIN as alice)"
    refused = unreachable(
        settings.bootstrap_servers,
        settings.security,
        ConnectionError("Unable to bootstrap"),
        f"[Error 58] SaslAuthenticationFailed: bad credentials {SECRET}",
    )
    assert SECRET not in refused
    assert refused.startswith("cannot reach Kafka at localhost:9092 over SASL_PLAINTEXT (PLAIN as alice): ")
    assert "refused the SASL credentials of 'alice'" in refused


@pytest.mark.parametrize(
    ("client_error", "hint"),
    [
        ('Unable connect to "h:9092": [Errno 111] Connect call failed', "is a broker running?"),
        (
            "Unable connect to ...: KafkaConnectionError: Connection at h:9092 closed",
            "the broker closed the connection",
        ),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "set NEWSEVENTS_SSL_CAFILE"),
    ],
)
def test_connection_failures_say_what_to_check(client_error, hint):
    message = unreachable("h:9092", KafkaSecurity(protocol="SSL"), ConnectionError(), client_error)
    assert hint in message and "\n" not in message


def test_log_records_never_show_the_secret(caplog):
    hide_secret_in_logs(SECRET)
    try:
        log = logging.getLogger("aiokafka.conn")
        with caplog.at_level(logging.DEBUG, logger="aiokafka.conn"):
            # What aiokafka logs for a SASL/PLAIN request, as a bytes repr.
            log.debug(
                "Request 3: SaslAuthenticateRequest_v1(sasl_auth_bytes=%r)", b"alice\x00alice\x00" + SECRET.encode()
            )
            try:
                raise RuntimeError(f"failed with {SECRET}")
            except RuntimeError:
                log.exception("connection failed")
        text = caplog.text
        assert "sasl_auth_bytes=b'alice\\x00alice\\x00***'" in text
        assert "failed with ***" in text
        assert SECRET not in text
    finally:
        logging.setLogRecordFactory(logging.LogRecord)


def test_demo_does_not_stand_in_a_plaintext_broker_for_a_secured_cluster(tmp_path):
    env = {
        **os.environ,
        "NEWSEVENTS_CACHE": str(tmp_path),
        **_env(
            BROKER="127.0.0.1:1",
            SECURITY_PROTOCOL="SASL_PLAINTEXT",
            SASL_MECHANISM="SCRAM-SHA-256",
            SASL_USERNAME="alice",
            SASL_PASSWORD=SECRET,
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "newsevents.cli", "demo", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "newsevents: error: nothing answers at 127.0.0.1:1, and demo starts a local broker only for "
        "PLAINTEXT (NEWSEVENTS_SECURITY_PROTOCOL is SASL_PLAINTEXT)"
    )
    assert SECRET not in proc.stdout + proc.stderr
