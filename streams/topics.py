"""Create the worker's topics with the configured partition count."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from newsevents.config import KafkaSecurity, Settings
from newsevents.streams.clients import security_args, start_client

log = logging.getLogger(__name__)


def quiet_client_logs() -> None:
    """Command-line tools report connection problems themselves, in one line;
    the Kafka client's own retry chatter would only bury it."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class TopicSpec:
    """A topic that needs its own partition count (checked when it exists) and configuration."""

    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


class TopicMismatch(Exception):
    """An existing topic whose partition count the worker cannot work with."""


async def ensure_topics_async(
    target: Settings | str,
    names: Iterable[str],
    partitions: int,
    *,
    timeout: float = 15.0,
    special: Mapping[str, TopicSpec] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    ``target`` is the settings (bootstrap servers and security), or a bare
    ``host:port`` list for a PLAINTEXT cluster. Topics in ``special`` get
    their own partition count and configuration; one that exists with another
    partition count raises :class:`TopicMismatch`.
    """
    special = dict(special or {})
    if isinstance(target, Settings):
        bootstrap, security = target.bootstrap_servers, target.security
    else:
        bootstrap, security = target, KafkaSecurity()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **security_args(security)
    )
    await start_client(admin, bootstrap, security, timeout=timeout)
    try:
        existing = set(await admin.list_topics())
        checked = [n for n in special if n in existing]
        if checked:
            for described in await admin.describe_topics(checked):
                count = len(described.get("partitions") or [])
                want = special[described["topic"]].partitions
                if count != want:
                    raise TopicMismatch(
                        f"topic {described['topic']} has {count} partitions; the worker needs exactly {want} "
                        "(delete it, or use another NEWSEVENTS_TOPIC_PREFIX)"
                    )
        wanted = [n for n in dict.fromkeys([*names, *special]) if n not in existing]
        if not wanted:
            return []
        new = [
            NewTopic(n, special[n].partitions, 1, topic_configs=dict(special[n].config))
            if n in special
            else NewTopic(n, partitions, 1)
            for n in wanted
        ]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another worker won the race
        except KafkaError as exc:
            log.warning("could not create topics %s: %s", wanted, exc)
            return wanted
        await _wait_for_leaders(admin, wanted, timeout)
        return wanted
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    """Return once every partition of ``names`` has a leader, or after ``timeout`` seconds.

    A consumer that joins its group before a new topic has leaders sees the
    topic without partitions and is not assigned them until its next metadata
    refresh (minutes later), so a first start would sit idle.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            described = await admin.describe_topics(names)
            ready = all(
                t.get("error_code", 0) == 0
                and t.get("partitions")
                and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                for t in described
            )
        except KafkaError:
            ready = False
        if ready or asyncio.get_running_loop().time() >= deadline:
            if not ready:
                log.warning("new topics %s have no leader yet after %.0f s", names, timeout)
            return
        await asyncio.sleep(0.2)
