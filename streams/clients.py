"""Kafka client arguments, built in one place from the settings.

Every client we open (producers, consumers and admin clients of ``produce``,
``tail``, ``demo``, the dashboard feed, topic creation and the local broker's
readiness probe) takes :func:`client_args`; the Faust worker takes
:func:`faust_credentials`. Both honour the ``NEWSEVENTS_SECURITY_*``,
``NEWSEVENTS_SASL_*`` and ``NEWSEVENTS_SSL_*`` settings (see
:class:`newsevents.config.KafkaSecurity`).
"""

from __future__ import annotations

import ssl
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
