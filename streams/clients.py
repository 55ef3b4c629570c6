"""Kafka client arguments, built in one place from the settings.

Every client we open (producers, consumers and admin clients of ``produce``,
``tail``, ``demo``, the dashboard feed, topic creation and the local broker's
readiness probe) takes :func:`client_args`; the Faust worker takes
:func:`faust_credentials`. Both honour the ``NEWSEVENTS_SECURITY_*``,
``NEWSEVENTS_SASL_*`` and ``NEWSEVENTS_SSL_*`` settings (see
:class:`newsevents.config.KafkaSecurity`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from newsevents.config import ConfigError, KafkaSecurity, Settings


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context clients use (None without TLS): verifies the brokers against
    ``NEWSEVENTS_SSL_CAFILE`` or the system store, and presents the client
    certificate when one is configured."""
    if not security.uses_tls:
        return None
    from aiokafka.helpers import create_ssl_context

    try:
        return create_ssl_context(
            cafile=security.ssl_cafile,
            certfile=security.ssl_certfile,
            keyfile=security.ssl_keyfile,
        )
    except (ssl.SSLError, OSError) as exc:
        # Name the files, not their contents: a key file's bytes must not reach a message.
        files = ", ".join(
            f"{name}={path}"
            for name, path in (
                ("NEWSEVENTS_SSL_CAFILE", security.ssl_cafile),
                ("NEWSEVENTS_SSL_CERTFILE", security.ssl_certfile),
                ("NEWSEVENTS_SSL_KEYFILE", security.ssl_keyfile),
            )
            if path is not None
        )
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise ConfigError(f"cannot use the TLS files ({files or 'system CA store'}): {reason}") from None


def security_args(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka keyword arguments for ``security`` (producer, consumer and admin client alike)."""
    args: dict[str, Any] = {"security_protocol": security.protocol}
    context = ssl_context(security)
    if context is not None:
        args["ssl_context"] = context
    if security.uses_sasl:
        args["sasl_mechanism"] = security.sasl_mechanism
        args["sasl_plain_username"] = security.sasl_username
        args["sasl_plain_password"] = security.sasl_password
    return args


def client_args(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments to reach the configured cluster: bootstrap servers and security."""
    return {"bootstrap_servers": settings.bootstrap_servers, **security_args(settings.security)}


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App``: None for PLAINTEXT."""
    import faust

    security = settings.security
    context = ssl_context(security)
    if security.uses_sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


# --------------------------------------------------------------------------- failures


class ClientErrors(logging.Handler):
    """Keeps the Kafka client's last warning or error instead of printing it.

    aiokafka reports why a connection failed (refused, closed, SASL or TLS
    failure) only in its log; the exception says "Unable to bootstrap".
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


@contextmanager
def client_errors() -> Iterator[ClientErrors]:
    """Silence the Kafka client's own log for a while, keeping its last error for our message."""
    logger = logging.getLogger("aiokafka")
    saved = (logger.level, logger.propagate, logger.handlers[:])
    handler = ClientErrors()
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


def _hint(cause: str, security: KafkaSecurity) -> str:
    if "SaslAuthentication" in cause or "Authentication failed" in cause:
        return (
            f"the broker refused the SASL credentials of {security.sasl_username!r} with {security.sasl_mechanism} "
            "(check NEWSEVENTS_SASL_USERNAME, NEWSEVENTS_SASL_PASSWORD and NEWSEVENTS_SASL_MECHANISM)"
        )
    if "UnsupportedSaslMechanism" in cause:
        return f"the broker does not offer {security.sasl_mechanism} (set NEWSEVENTS_SASL_MECHANISM)"
    if "CERTIFICATE_VERIFY_FAILED" in cause or "certificate verify failed" in cause:
        return (
            "the broker's TLS certificate is not trusted (set NEWSEVENTS_SSL_CAFILE to the CA that signed it)"
            if security.ssl_cafile is None
            else f"the broker's TLS certificate is not signed by NEWSEVENTS_SSL_CAFILE={security.ssl_cafile}"
        )
    if "SSL" in cause or "TLS" in cause:
        return (
            f"TLS handshake failed ({cause}): does the listener expect "
            f"NEWSEVENTS_SECURITY_PROTOCOL={security.protocol}?"
        )
    if "closed" in cause:
        return (
            "the broker closed the connection: does its listener expect another NEWSEVENTS_SECURITY_PROTOCOL "
            f"than {security.protocol}, SASL credentials, or a client certificate (NEWSEVENTS_SSL_CERTFILE)?"
        )
    return "is a broker running? (`newsevents broker` starts one)"


class KafkaUnavailable(Exception):
    """The bootstrap servers did not answer, or refused our credentials."""


async def start_client(client: Any, bootstrap: str, security: KafkaSecurity, *, timeout: float | None = None) -> None:
    """Start an aiokafka client (consumer, producer or admin), or shut it and raise
    :class:`KafkaUnavailable` with one line that says why; the client's own
    retry log stays quiet meanwhile."""
    from aiokafka.errors import KafkaConnectionError

    # The admin client has close(); consumers and producers have stop().
    shut = client.close if hasattr(client, "close") else client.stop
    with client_errors() as errors:
        try:
            await asyncio.wait_for(client.start(), timeout)
        except (TimeoutError, KafkaConnectionError, OSError) as exc:
            await shut()
            raise KafkaUnavailable(unreachable(bootstrap, security, exc, errors.last)) from None
        except BaseException:
            await shut()
            raise


def unreachable(bootstrap: str, security: KafkaSecurity, exc: BaseException, last_client_error: str | None) -> str:
    """One line that says why a client could not connect, and what to check; never a secret."""
    cause = last_client_error or f"{exc.__class__.__name__}: {exc}"
    message = f"cannot reach Kafka at {bootstrap} over {security.describe()}: {_hint(cause, security)}"
    if security.sasl_password:
        message = message.replace(security.sasl_password, "***")
    return " ".join(message.split())


# --------------------------------------------------------------------------- secrets


def hide_secret_in_logs(secret: str) -> None:
    """From now on, replace ``secret`` with ``***`` in every log record of this process.

    The Kafka client logs each request at debug level, and a SASL/PLAIN
    authentication request holds the password as bytes; no level or logger
    setting is safe against every future debug line, so records are cleaned
    as they are made (message, arguments and any traceback).
    """
    # The forms a password takes inside a str or bytes repr as well as verbatim.
    forms = sorted({secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]} - {""}, key=len, reverse=True)
    previous = logging.getLogRecordFactory()

    def clean(text: str) -> str:
        for form in forms:
            text = text.replace(form, "***")
        return text

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return record
        if any(form in message for form in forms):
            record.msg, record.args = clean(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = clean(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
