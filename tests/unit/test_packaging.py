"""The wheel a user installs: one top-level package, with its data, importable from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [built] = out.glob("newsevents-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package_with_its_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert zf.read(top_level).decode().split() == ["newsevents"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"newsevents"}
    for data in (
        "newsevents/model/default/manifest.json",
        "newsevents/streams/static/dashboard.html",
        "newsevents/streams/locks/kafka-4.1.1.toml",
        "newsevents/samples/stream.jsonl",
        "newsevents/training/data/DATASHEET.md",
    ):
        assert data in names


def test_installed_outside_the_repository_only_newsevents_imports(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        timeout=600,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}

    def python(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)

    for generic in ("model", "streams", "training", "samples"):
        assert python(f"import {generic}").returncode != 0, f"`import {generic}` works after installing"
    found = python(
        "import newsevents.model.service, newsevents.streams.pipeline, newsevents.training.corpus\n"
        "from newsevents.config import DEFAULT_MODEL_DIR\n"
        "from newsevents.streams.demo import SAMPLE_STREAM\n"
        "print(DEFAULT_MODEL_DIR.is_dir(), SAMPLE_STREAM.is_file(), newsevents.model.service.__file__)"
    )
    assert found.returncode == 0, found.stderr
    model_dir_ok, sample_ok, location = found.stdout.split()
    assert model_dir_ok == sample_ok == "True"
    assert location.startswith(str(target))
