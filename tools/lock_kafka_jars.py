"""Regenerate the jar lock of a local Kafka broker: ``python tools/lock_kafka_jars.py 4.1.1``.

For maintainers only, and the only place Maven is used. Users' machines never
resolve anything: ``newsevents broker`` downloads exactly the jars listed in
``streams/locks/kafka-<version>.toml`` and checks each one's SHA-256.

What it does: writes a pom whose runtime dependencies are the broker's
classpath (``org.apache.kafka:kafka_2.13`` plus the log4j binding Kafka's own
tarball ships), has Maven copy them in repository layout from a fresh local
repository (so every jar comes from the remote repository now, with Maven's
strict checksum checks), and writes one lock entry per jar: group, artifact,
version, size and SHA-256. Needs ``mvn`` (3.8+) and a JDK on PATH.

To move to a new Kafka release: run this with the new version, set
``KAFKA_VERSION`` in ``streams/jars.py``, run ``make test``, and commit the new lock.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "streams" / "locks"

#: Pinned so resolution does not drift to a plugin that needs a newer Maven.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"

# Kafka 4.0-4.2 log through SLF4J 1.7.x, so the binding is log4j-slf4j-impl (not
# the slf4j2 one); the log4j version matches what each release's tarball ships.
# 4.0 does not depend on log4j at all, so api and core are always declared too.
LOG4J_FOR_KAFKA = {"4.0": "2.24.3", "4.1": "2.24.3", "4.2": "2.25.3"}
LOG4J_DEFAULT = "2.25.3"

_VERSION = re.compile(r"\d+\.\d+\.\d+")


def log4j_version(kafka_version: str) -> str:
    """The log4j release that matches a Kafka release."""
    minor = ".".join(kafka_version.split(".")[:2])
    return LOG4J_FOR_KAFKA.get(minor, LOG4J_DEFAULT)


def pom_xml(kafka_version: str, log4j: str) -> str:
    """A pom whose runtime dependencies are exactly a broker's classpath."""
    deps = [("org.apache.kafka", "kafka_2.13", kafka_version)] + [
        ("org.apache.logging.log4j", artifact, log4j) for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
    ]
    dep_xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newsevents</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>{kafka_version}</version>
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


def resolve(kafka_version: str, log4j: str, work: Path) -> Path:
    """Have Maven copy the runtime classpath into ``work/libs`` (repository layout)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("lock_kafka_jars: mvn (Apache Maven) is not on PATH")
    (work / "pom.xml").write_text(pom_xml(kafka_version, log4j))
    libs = work / "libs"
    cmd = [
        mvn,
        "-B",
        "-q",
        "--strict-checksums",
        f"-Dmaven.repo.local={work / 'repository'}",
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        "-Dmdep.useRepositoryLayout=true",
        f"-DoutputDirectory={libs}",
    ]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise SystemExit(f"lock_kafka_jars: Maven failed (exit {proc.returncode}):\n{tail}")
    return libs


def lock_entries(libs: Path) -> list[dict[str, str | int]]:
    """One entry per jar under a repository-layout folder: group/artifact/version/file."""
    entries: list[dict[str, str | int]] = []
    for jar in sorted(libs.rglob("*.jar")):
        *group, artifact, version, name = jar.relative_to(libs).parts
        if name != f"{artifact}-{version}.jar":
            # The lock has no classifier field; a classified jar needs one first.
            raise SystemExit(f"lock_kafka_jars: unexpected file name {jar.relative_to(libs)}")
        entries.append(
            {
                "group": ".".join(group),
                "artifact": artifact,
                "version": version,
                "size": jar.stat().st_size,
                "sha256": hashlib.sha256(jar.read_bytes()).hexdigest(),
            }
        )
    entries.sort(key=lambda e: (e["group"], e["artifact"]))
    return entries


def render_lock(kafka_version: str, log4j: str, entries: list[dict[str, str | int]]) -> str:
    """The lock file's TOML text (written by hand: the standard library reads TOML but does not write it)."""
    lines = [
        f"# The classpath of a local Apache Kafka {kafka_version} broker: every jar, pinned by SHA-256.",
        f"# Generated by `python tools/lock_kafka_jars.py {kafka_version}` from Maven's resolution of",
        f"# org.apache.kafka:kafka_2.13:{kafka_version} and the log4j {log4j} binding. Do not edit by hand.",
        f'kafka = "{kafka_version}"',
        f'generated = "{datetime.date.today().isoformat()}"',
    ]
    for e in entries:
        lines += [
            "",
            "[[jar]]",
            f'group = "{e["group"]}"',
            f'artifact = "{e["artifact"]}"',
            f'version = "{e["version"]}"',
            f"size = {e['size']}",
            f'sha256 = "{e["sha256"]}"',
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", help="Apache Kafka release, e.g. 4.1.1")
    parser.add_argument("--log4j", help="log4j release of the SLF4J binding (default: what that Kafka ships)")
    parser.add_argument("--output", type=Path, help="lock file to write (default streams/locks/kafka-VERSION.toml)")
    args = parser.parse_args(argv)
    if not _VERSION.fullmatch(args.version):
        parser.error(f"{args.version!r} is not a release number like 4.1.1")
    log4j = args.log4j or log4j_version(args.version)
    output = args.output or LOCKS / f"kafka-{args.version}.toml"
    with tempfile.TemporaryDirectory(prefix="kafka-lock-") as tmp:
        entries = lock_entries(resolve(args.version, log4j, Path(tmp)))
    if not any(e["artifact"] == "kafka_2.13" for e in entries):
        raise SystemExit("lock_kafka_jars: Maven's resolution holds no kafka_2.13 jar")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_lock(args.version, log4j, entries))
    total = sum(int(e["size"]) for e in entries)
    print(f"wrote {output}: {len(entries)} jars, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
