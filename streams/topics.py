"""Create the worker's topics with the configured partition count."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from newsevents.config import KafkaSecurity, Settings
from newsevents.streams.clients import client_errors, security_args, unreachable

log = logging.getLogger(__name__)


def quiet_client_logs() -> None:
    """Command-line tools report connection problems themselves, in one line;
    the Kafka client's own retry chatter would only bury it."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


class KafkaUnavailable(Exception):
    """The bootstrap servers did not answer, or refused our credentials."""


async def ensure_topics_async(
    target: Settings | str, names: Iterable[str], partitions: int, *, timeout: float = 15.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    ``target`` is the settings (bootstrap servers and security), or a bare
    ``host:port`` list for a PLAINTEXT cluster.
    """
    if isinstance(target, Settings):
        bootstrap, security = target.bootstrap_servers, target.security
    else:
        bootstrap, security = target, KafkaSecurity()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **security_args(security)
    )
    with client_errors() as errors:
        try:
            await asyncio.wait_for(admin.start(), timeout)
        except (TimeoutError, KafkaConnectionError, OSError) as exc:
            await admin.close()
            raise KafkaUnavailable(unreachable(bootstrap, security, exc, errors.last)) from None
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        if not wanted:
            return []
        try:
            await admin.create_topics([NewTopic(n, partitions, 1) for n in wanted])
        except TopicAlreadyExistsError:
            pass  # another worker won the race
        except KafkaError as exc:
            log.warning("could not create topics %s: %s", wanted, exc)
        return wanted
    finally:
        await admin.close()


def ensure_topics(target: Settings | str, names: Iterable[str], partitions: int) -> list[str]:
    """Blocking wrapper of :func:`ensure_topics_async`."""
    return asyncio.run(ensure_topics_async(target, names, partitions))
