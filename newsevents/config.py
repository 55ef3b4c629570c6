"""Configuration: the one place that reads the environment.

Every setting has a documented default and an environment variable; command
flags override the environment. See docs/operations.md for the full table.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


def package_dir(name: str) -> Path:
    """The folder of a sub-package (``newsevents.model`` -> ``.../model``) without importing it.

    The sub-packages live in the repository's top-level folders and are mapped
    under ``newsevents`` at install time, so their files are found through the
    import system rather than relative to this file.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


#: The default model shipped with the package (trained from training/data).
DEFAULT_MODEL_DIR = package_dir("newsevents.model") / "default"


class ConfigError(ValueError):
    """A setting with an unusable value."""


def default_cache_dir() -> Path:
    """``$NEWSEVENTS_CACHE`` or ``~/.cache/newsevents``: Kafka jars, broker and worker data."""
    env = os.environ.get("NEWSEVENTS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "newsevents"


#: Maven Central, where Apache publishes Kafka's jars (override: ``NEWSEVENTS_MAVEN_URL``).
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"


def maven_repository(env: Mapping[str, str] | None = None) -> str:
    """``$NEWSEVENTS_MAVEN_URL`` (a Maven repository, e.g. a company mirror) or Maven Central.

    Every jar is checked against the lock's SHA-256 whatever serves it, so a
    mirror, even over plain HTTP, cannot change what the broker runs.
    """
    env = os.environ if env is None else env
    url = (env.get("NEWSEVENTS_MAVEN_URL") or MAVEN_CENTRAL).strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"NEWSEVENTS_MAVEN_URL={url!r} is not an http(s) URL")
    return url


def _int(env: dict, name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value


def _sha256(raw: str | None) -> str | None:
    if not raw:
        return None
    value = raw.strip().lower().removeprefix("sha256:")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ConfigError("NEWSEVENTS_MODEL_SHA256 must be 64 hexadecimal digits (the model file's SHA-256)")
    return value


@dataclass(frozen=True)
class Topics:
    """Topic names under a prefix (``news`` by default)."""

    prefix: str = "news"

    @property
    def raw(self) -> str:
        return f"{self.prefix}.articles.raw"

    @property
    def classified(self) -> str:
        return f"{self.prefix}.articles.classified"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.articles.deadletter"

    @property
    def stats(self) -> str:
        return f"{self.prefix}.events.stats"

    def event(self, event_type: str) -> str:
        return f"{self.prefix}.events.{event_type}"

    @property
    def stories(self) -> str:
        """Internal: classified articles on their way to story grouping (one partition)."""
        return f"{self.prefix}.internal.stories"

    @property
    def story_index(self) -> str:
        """Internal: the story index's entries, read back when a worker takes over grouping (compacted)."""
        return f"{self.prefix}.internal.story-index"


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How Kafka clients authenticate and encrypt: the ``NEWSEVENTS_SECURITY_*``,
    ``NEWSEVENTS_SASL_*`` and ``NEWSEVENTS_SSL_*`` settings.

    The password is left out of ``repr`` and of every message built here, so
    printing or logging settings cannot leak it.
    """

    protocol: str = "PLAINTEXT"  # NEWSEVENTS_SECURITY_PROTOCOL
    sasl_mechanism: str = "PLAIN"  # NEWSEVENTS_SASL_MECHANISM
    sasl_username: str | None = None  # NEWSEVENTS_SASL_USERNAME
    sasl_password: str | None = field(default=None, repr=False)  # NEWSEVENTS_SASL_PASSWORD
    ssl_cafile: Path | None = None  # NEWSEVENTS_SSL_CAFILE (None: the system's CA store)
    ssl_certfile: Path | None = None  # NEWSEVENTS_SSL_CERTFILE (client certificate, mutual TLS)
    ssl_keyfile: Path | None = None  # NEWSEVENTS_SSL_KEYFILE

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def describe(self) -> str:
        """One phrase for messages, without secrets: ``SASL_SSL (SCRAM-SHA-512 as alice)``."""
        if self.uses_sasl:
            return f"{self.protocol} ({self.sasl_mechanism} as {self.sasl_username})"
        return self.protocol

    @classmethod
    def from_env(cls, env: dict) -> KafkaSecurity:
        """Read and check the settings; :class:`ConfigError` names the variable, never a secret's value."""
        protocol = (env.get("NEWSEVENTS_SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"NEWSEVENTS_SECURITY_PROTOCOL={protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        mechanism = (env.get("NEWSEVENTS_SASL_MECHANISM") or "").strip().upper()
        username = env.get("NEWSEVENTS_SASL_USERNAME") or None
        password = env.get("NEWSEVENTS_SASL_PASSWORD") or None
        files = {name: env.get(f"NEWSEVENTS_SSL_{name}") or None for name in ("CAFILE", "CERTFILE", "KEYFILE")}
        security = cls(
            protocol=protocol,
            sasl_mechanism=mechanism or "PLAIN",
            sasl_username=username,
            sasl_password=password,
            ssl_cafile=Path(files["CAFILE"]).expanduser() if files["CAFILE"] else None,
            ssl_certfile=Path(files["CERTFILE"]).expanduser() if files["CERTFILE"] else None,
            ssl_keyfile=Path(files["KEYFILE"]).expanduser() if files["KEYFILE"] else None,
        )
        # Settings that the protocol would ignore are refused: a silently
        # unused password or CA file hides a misconfiguration.
        if not security.uses_sasl:
            unused = [
                name
                for name, value in (
                    ("NEWSEVENTS_SASL_MECHANISM", mechanism),
                    ("NEWSEVENTS_SASL_USERNAME", username),
                    ("NEWSEVENTS_SASL_PASSWORD", password),
                )
                if value
            ]
            if unused:
                raise ConfigError(
                    f"{unused[0]} is set but NEWSEVENTS_SECURITY_PROTOCOL={protocol} does not use SASL "
                    "(use SASL_PLAINTEXT or SASL_SSL)"
                )
        else:
            if security.sasl_mechanism not in SASL_MECHANISMS:
                raise ConfigError(f"NEWSEVENTS_SASL_MECHANISM={mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}")
            if not username or not password:
                raise ConfigError(
                    f"NEWSEVENTS_SECURITY_PROTOCOL={protocol} needs NEWSEVENTS_SASL_USERNAME and "
                    "NEWSEVENTS_SASL_PASSWORD"
                )
        if not security.uses_tls:
            unused = [f"NEWSEVENTS_SSL_{name}" for name, value in files.items() if value]
            if unused:
                raise ConfigError(
                    f"{unused[0]} is set but NEWSEVENTS_SECURITY_PROTOCOL={protocol} does not use TLS "
                    "(use SSL or SASL_SSL)"
                )
        if files["KEYFILE"] and not files["CERTFILE"]:
            raise ConfigError("NEWSEVENTS_SSL_KEYFILE is set without NEWSEVENTS_SSL_CERTFILE")
        for name, path in (
            ("NEWSEVENTS_SSL_CAFILE", security.ssl_cafile),
            ("NEWSEVENTS_SSL_CERTFILE", security.ssl_certfile),
            ("NEWSEVENTS_SSL_KEYFILE", security.ssl_keyfile),
        ):
            if path is not None and not path.is_file():
                raise ConfigError(f"{name}={str(path)!r}: no such file")
        return security


@dataclass(frozen=True)
class Settings:
    """All settings. Build with :meth:`from_env`; override with :meth:`with_overrides`."""

    broker: str = "kafka://localhost:9092"  # NEWSEVENTS_BROKER
    model_path: Path = DEFAULT_MODEL_DIR  # NEWSEVENTS_MODEL
    topic_prefix: str = "news"  # NEWSEVENTS_TOPIC_PREFIX
    app_id: str = "newsevents"  # NEWSEVENTS_APP_ID (consumer group)
    partitions: int = 4  # NEWSEVENTS_PARTITIONS
    batch_size: int = 200  # NEWSEVENTS_BATCH_SIZE
    max_article_bytes: int = 1 << 20  # NEWSEVENTS_MAX_ARTICLE_BYTES
    web_host: str = "127.0.0.1"  # NEWSEVENTS_WEB_HOST
    web_port: int = 6066  # NEWSEVENTS_WEB_PORT
    reload_interval: float = 5.0  # NEWSEVENTS_RELOAD_INTERVAL (seconds)
    stats_interval: float = 10.0  # NEWSEVENTS_STATS_INTERVAL (seconds)
    model_processes: int = 1  # NEWSEVENTS_MODEL_PROCESSES (0: a thread of the worker)
    story_window_hours: float = 72.0  # NEWSEVENTS_STORY_WINDOW_HOURS (copies within it join one story)
    stall_seconds: float = 60.0  # NEWSEVENTS_STALL_SECONDS (/health turns 503 after this long without progress)
    web_token: str | None = field(default=None, repr=False)  # NEWSEVENTS_WEB_TOKEN
    model_sha256: str | None = None  # NEWSEVENTS_MODEL_SHA256
    data_dir: Path = field(default_factory=lambda: default_cache_dir() / "worker")  # NEWSEVENTS_DATA_DIR
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # NEWSEVENTS_SECURITY_PROTOCOL, SASL_*, SSL_*
    maven_url: str = MAVEN_CENTRAL  # NEWSEVENTS_MAVEN_URL (where the local broker's jars come from)

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` without the ``kafka://`` scheme (for plain Kafka clients)."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";") for part in part.split(","))

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        broker = env.get("NEWSEVENTS_BROKER") or defaults.broker
        if "://" not in broker:
            broker = "kafka://" + broker
        prefix = env.get("NEWSEVENTS_TOPIC_PREFIX") or defaults.topic_prefix
        return cls(
            broker=broker,
            model_path=Path(env["NEWSEVENTS_MODEL"]) if env.get("NEWSEVENTS_MODEL") else defaults.model_path,
            topic_prefix=prefix,
            app_id=env.get("NEWSEVENTS_APP_ID") or defaults.app_id,
            partitions=_int(env, "NEWSEVENTS_PARTITIONS", defaults.partitions),
            batch_size=_int(env, "NEWSEVENTS_BATCH_SIZE", defaults.batch_size),
            max_article_bytes=_int(env, "NEWSEVENTS_MAX_ARTICLE_BYTES", defaults.max_article_bytes),
            web_host=env.get("NEWSEVENTS_WEB_HOST") or defaults.web_host,
            web_port=_int(env, "NEWSEVENTS_WEB_PORT", defaults.web_port),
            reload_interval=_float(env, "NEWSEVENTS_RELOAD_INTERVAL", defaults.reload_interval),
            stats_interval=_float(env, "NEWSEVENTS_STATS_INTERVAL", defaults.stats_interval),
            model_processes=_int(env, "NEWSEVENTS_MODEL_PROCESSES", defaults.model_processes, minimum=0),
            story_window_hours=_float(env, "NEWSEVENTS_STORY_WINDOW_HOURS", defaults.story_window_hours),
            stall_seconds=_float(env, "NEWSEVENTS_STALL_SECONDS", defaults.stall_seconds),
            web_token=env.get("NEWSEVENTS_WEB_TOKEN") or None,
            model_sha256=_sha256(env.get("NEWSEVENTS_MODEL_SHA256")),
            data_dir=Path(env["NEWSEVENTS_DATA_DIR"]) if env.get("NEWSEVENTS_DATA_DIR") else defaults.data_dir,
            security=KafkaSecurity.from_env(env),
            maven_url=maven_repository(env),
        )

    def with_overrides(self, **values) -> Settings:
        """A copy with the given settings replaced; None values are ignored."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})
