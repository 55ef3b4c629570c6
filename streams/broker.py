"""A local single-node Apache Kafka broker, run from Maven Central jars.

Apache Kafka publishes the broker as ordinary jars (``org.apache.kafka:kafka_2.13``),
so a development broker needs only Java 17+ and Maven: no tarball, no Docker.
:func:`ensure_kafka_jars` resolves the jars once into a cache folder,
:class:`LocalBroker` formats KRaft storage and runs ``kafka.Kafka`` as a child
process, and :func:`run_broker` is the blocking entry point for the CLI.

Readiness is what a Kafka client sees: a metadata request through aiokafka
that lists this broker.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import errno
import fcntl
import hashlib
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
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from newsevents.config import default_cache_dir

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "LocalBroker",
    "default_cache_dir",
    "default_data_dir",
    "ensure_kafka_jars",
    "free_port",
    "port_is_free",
    "run_broker",
]

#: Apache Kafka release run by default (``org.apache.kafka:kafka_2.13``).
KAFKA_VERSION = "4.1.1"

#: Pinned so the build does not drift to a plugin that needs a newer Maven than 3.8.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"

#: Minimum Java release Kafka 4.x brokers run on.
MIN_JAVA = 17

# Kafka 4.0-4.2 log through SLF4J 1.7.x, so the binding is log4j-slf4j-impl (not
# the slf4j2 one); the log4j version matches what each release's tarball ships.
# 4.0 does not depend on log4j at all, so api/core are always declared too.
_LOG4J_FOR_KAFKA = {"4.0": "2.24.3", "4.1": "2.24.3", "4.2": "2.25.3"}
_LOG4J_DEFAULT = "2.25.3"

_MARKER = ".resolved"
_CLUSTER_ID_FILE = "cluster.id"
_NODE_ID = 1


class BrokerError(RuntimeError):
    """The local broker could not be resolved, started or reached."""


# --------------------------------------------------------------------------- paths


def default_data_dir() -> Path:
    """Return the broker's default data folder, ``<cache>/broker-data``."""
    return default_cache_dir() / "broker-data"


# --------------------------------------------------------------------------- tools


def _find_java() -> str:
    """Locate ``java`` the way Kafka's scripts do: ``$JAVA_HOME`` first, then PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            f"java was not found on PATH: the Kafka broker needs Java {MIN_JAVA} or newer "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
    return found


def _java_major(java: str) -> int:
    """Return the major release of the given ``java`` binary (8 for ``1.8``)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"could not run {java} -version: {exc}") from exc
    # The version banner goes to stderr; the quoted string is "17.0.15", "21" or "1.8.0_392".
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise BrokerError(f"could not read the Java version from: {out.stderr.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def _require_java() -> str:
    """Return the java binary, or raise when it is missing or too old."""
    java = _find_java()
    major = _java_major(java)
    if major < MIN_JAVA:
        raise BrokerError(
            f"{java} is Java {major}; Apache Kafka 4.x needs Java {MIN_JAVA} or newer "
            "(set JAVA_HOME or put a newer java first on PATH)"
        )
    return java


def _require_mvn() -> str:
    """Return the mvn binary, or raise a message that says how to get it."""
    found = shutil.which("mvn")
    if not found:
        raise BrokerError(
            "mvn (Apache Maven) was not found on PATH: it is needed once to download "
            "the Kafka jars from Maven Central (Debian/Ubuntu: apt-get install maven)"
        )
    return found


# --------------------------------------------------------------------------- jars


def _log4j_version(kafka_version: str) -> str:
    """Return the log4j release that matches a Kafka release."""
    minor = ".".join(kafka_version.split(".")[:2])
    return _LOG4J_FOR_KAFKA.get(minor, _LOG4J_DEFAULT)


def _pom_xml(version: str) -> str:
    """Return a pom whose runtime dependencies are exactly the broker's classpath."""
    log4j = _log4j_version(version)
    deps = [("org.apache.kafka", "kafka_2.13", version)] + [
        ("org.apache.logging.log4j", artifact, log4j) for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
    ]
    dep_xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by newsevents (streams/broker.py): the classpath of a local Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newsevents</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def _dir_size(path: Path) -> int:
    """Return the total size in bytes of the files directly inside ``path``."""
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


# Maven's generic advice after every failure; it would crowd out the real cause.
_MAVEN_NOISE = re.compile(r"^\[ERROR\]\s*(To see the full|Re-run Maven|For more information|\[Help \d\]|$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _maven_tail(output: str, lines: int = 15) -> list[str]:
    """Return the last meaningful lines of Maven's output."""
    kept = []
    for line in output.splitlines():
        line = _ANSI.sub("", line).rstrip()
        if line and not _MAVEN_NOISE.search(line):
            kept.append(line)
    return kept[-lines:]


def ensure_kafka_jars(cache_dir: Path, version: str = KAFKA_VERSION, *, quiet: bool = False) -> Path:
    """Resolve Kafka's jars into ``cache_dir/kafka-<version>/libs`` once; return that folder."""
    home = Path(cache_dir).expanduser().resolve() / f"kafka-{version}"
    libs = home / "libs"
    pom = _pom_xml(version)
    # The marker holds the pom's hash, so a changed dependency list re-resolves.
    digest = hashlib.sha256(pom.encode()).hexdigest()
    marker = home / _MARKER

    def done() -> bool:
        return libs.is_dir() and marker.is_file() and marker.read_text().strip() == digest

    if done():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    # A file lock keeps two processes (e.g. parallel test workers) from racing Maven.
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done():
            return libs
        mvn = _require_mvn()
        _require_java()  # Maven needs it too, and a too-old one fails with a worse message.
        (home / "pom.xml").write_text(pom)
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        if not quiet:
            print(
                f"Resolving Apache Kafka {version} jars with Maven (first run only)...",
                flush=True,
            )
        started = time.monotonic()
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        try:
            proc = subprocess.run(cmd, cwd=home, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"Maven did not finish resolving Kafka {version} in 30 minutes") from exc
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            tail = "\n".join(_maven_tail(proc.stdout + proc.stderr))
            raise BrokerError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
                f"(exit {proc.returncode}; is the version published and Maven Central "
                f"reachable?). Last lines of Maven's output:\n{tail or '(no output)'}"
            )
        # Swap the finished folder in, so an interrupted run never looks complete.
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker.write_text(digest + "\n")
        if not quiet:
            jars = list(libs.glob("*.jar"))
            print(
                f"Resolved {len(jars)} jars ({_dir_size(libs) / 1e6:.1f} MB) in "
                f"{time.monotonic() - started:.1f} s into {libs}",
                flush=True,
            )
    return libs


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


async def _describe_cluster(bootstrap: str, timeout: float) -> set[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return {int(broker["node_id"]) for broker in cluster["brokers"]}
    finally:
        await admin.close()


def _broker_ids(bootstrap: str, timeout: float) -> set[int]:
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
            return pool.submit(asyncio.run, _describe_cluster(bootstrap, timeout)).result()
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
    ) -> None:
        """Configure (but not start) a broker; ``port=0`` picks a free port.

        ``jars_dir`` defaults to the jars of ``version`` in :func:`default_cache_dir`,
        resolved on :meth:`start`. With ``console`` the JVM's output and WARN+ log
        lines go to this process's terminal; otherwise to ``data_dir/logs``.
        ``overrides`` adds or replaces server.properties entries.
        """
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port or free_port()
        self.controller_port = controller_port
        self.heap = heap
        self.jars_dir = Path(jars_dir).resolve() if jars_dir else None
        self.version = version
        self.console = console
        self.overrides = dict(overrides or {})
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- paths
    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients bootstrap from."""
        return f"127.0.0.1:{self.port}"

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
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        props.update(self.overrides)
        server_props = self.data_dir / "server.properties"
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
        java = _require_java()
        libs = self.jars_dir or ensure_kafka_jars(default_cache_dir(), self.version)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"{libs} holds no kafka_2.13 jar: resolve with ensure_kafka_jars()")
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
                ),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if fmt.returncode != 0:
                raise BrokerError(
                    f"formatting Kafka storage in {log_dir} failed (exit {fmt.returncode}):\n"
                    + "\n".join((fmt.stdout + fmt.stderr).strip().splitlines()[-15:])
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
        started = time.monotonic()
        deadline = started + timeout
        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise self.failure(f"Kafka broker exited with code {code} while starting")
            try:
                if _NODE_ID in _broker_ids(self.bootstrap, timeout=2.0):
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
        return f"LocalBroker({self.bootstrap}, {self.data_dir}, {state})"


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
) -> int:
    """Run a broker in the foreground until Ctrl-C or SIGTERM; return an exit code."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data = Path(data_dir) if data_dir else cache / "broker-data"
    stop_requested = threading.Event()
    ready = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()
        if not ready:
            # Still resolving or starting: unwind now; ``finally`` stops the JVM.
            raise KeyboardInterrupt

    # Handlers can only be installed from the main thread; elsewhere the caller owns signals.
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    broker: LocalBroker | None = None
    try:
        libs = ensure_kafka_jars(cache, version)
        broker = LocalBroker(data, port=port, jars_dir=libs, version=version, console=True)
        print(f"Starting Kafka {version} (data in {broker.data_dir})...", flush=True)
        broker.start()
        waited = broker.wait_ready()
        ready = True
        print(f"Kafka {version} ready at {broker.bootstrap} ({waited:.1f} s). Ctrl-C to stop.", flush=True)
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
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    finally:
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
