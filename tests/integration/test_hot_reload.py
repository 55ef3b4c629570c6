"""Hot reload while records flow: a new model is swapped in, a corrupt one refused."""

from __future__ import annotations

import json
import pickle
import shutil
import time
import uuid

import pytest

from newsevents.model.artifact import MODEL_FILE, load_artifact, save_artifact, sha256_file

from .kafka_helpers import collect, produce

pytestmark = pytest.mark.integration


class Planted:
    """What an attacker would plant: unpickling it creates a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _classified_version(worker, title: str) -> str:
    key = f"reload-{uuid.uuid4().hex[:8]}"
    produce(
        worker.bootstrap,
        worker.topics.raw,
        [
            (
                key.encode(),
                json.dumps({"title": title, "text": "Acme Corp agreed to buy Foo Ltd for $40 million."}).encode(),
            )
        ],
    )
    records = collect(
        worker.bootstrap, [worker.topics.classified], timeout=20, until=lambda rs: any(r["key"] == key for r in rs)
    )
    return next(r["value"]["model"]["version"] for r in records if r["key"] == key)


def _metric(worker, name: str) -> float:
    for line in worker.get("/metrics").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _wait_for(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_new_model_is_swapped_in_and_corrupt_one_refused(worker, tmp_path):
    backup = tmp_path / "original"
    shutil.copytree(worker.model_dir, backup)
    try:
        current = load_artifact(worker.model_dir)
        new_version = f"test-{uuid.uuid4().hex[:6]}"
        save_artifact(
            current.classifier,
            worker.model_dir,
            name="reloaded",
            version=new_version,
            data_fingerprint=current.manifest["training_data"]["fingerprint"],
            entities=current.entities,
        )
        assert _wait_for(lambda: worker.get("/health")["model"]["version"] == new_version), worker.log()
        assert _classified_version(worker, "Acme buys Foo") == new_version

        failures = _metric(worker, "newsevents_model_reload_failures_total")
        model_file = worker.model_dir / MODEL_FILE
        model_file.write_bytes(model_file.read_bytes()[:-100] + b"corrupted")
        assert _wait_for(lambda: _metric(worker, "newsevents_model_reload_failures_total") > failures), worker.log()
        assert worker.proc.poll() is None
        assert _classified_version(worker, "Acme buys Foo again") == new_version

        # A substituted model whose manifest digests were recomputed, as an attacker with write
        # access would do: refused before anything in it is built, and its code never runs.
        marker = tmp_path / "code-ran"
        failures = _metric(worker, "newsevents_model_reload_failures_total")
        model_file.write_bytes(pickle.dumps(Planted(str(marker))))
        manifest = json.loads((worker.model_dir / "manifest.json").read_text())
        manifest["files"][MODEL_FILE] = manifest["model_sha256"] = sha256_file(model_file)
        (worker.model_dir / "manifest.json").write_text(json.dumps(manifest))
        assert _wait_for(lambda: _metric(worker, "newsevents_model_reload_failures_total") > failures), worker.log()
        assert not marker.exists()
        assert _classified_version(worker, "Acme buys Foo once more") == new_version
    finally:
        for item in backup.iterdir():
            shutil.copy2(item, worker.model_dir / item.name)
