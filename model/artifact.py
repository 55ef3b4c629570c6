"""Model artifacts: a fitted classifier on disk, with a manifest that vouches for it.

An artifact is a folder::

    model.joblib     the fitted EventClassifier (joblib, i.e. pickle)
    manifest.json    name, version, created_at, taxonomy, thresholds,
                     training-data fingerprint, metrics, library versions,
                     and the SHA-256 of model.joblib

Unpickling runs code, so :func:`load_artifact` checks the model file's
checksum against the manifest *before* unpickling, and refuses an artifact
whose manifest, checksum, format or library versions do not match. The manifest
is written last (atomically), so a watcher that sees a new manifest sees a
complete artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn

from newsevents.model.classifier import EventClassifier

FORMAT = "newsevents.model/v1"
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"


class ArtifactError(Exception):
    """An artifact that cannot be used; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified classifier with its manifest."""

    classifier: EventClassifier
    manifest: dict
    path: Path

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artifact(
    classifier: EventClassifier,
    directory: Path,
    *,
    name: str,
    data_fingerprint: str,
    metrics: dict | None = None,
    version: str | None = None,
    created_at: datetime | None = None,
) -> dict:
    """Write ``classifier`` and its manifest into ``directory``; return the manifest.

    ``version`` defaults to the UTC creation time plus the first 8 hex digits
    of the model file's checksum, e.g. ``2026.11.27.0102-3fa9c1d2``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{MODEL_FILE}.")
    os.close(fd)
    try:
        joblib.dump(classifier, tmp, compress=3)
        os.replace(tmp, model_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    checksum = sha256_file(model_path)
    created = (created_at or datetime.now(UTC)).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "version": version or f"{created:%Y.%m.%d.%H%M}-{checksum[:8]}",
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "taxonomy": [str(t) for t in classifier.classes_],
        "thresholds": {
            str(t): round(float(v), 4) for t, v in zip(classifier.classes_, classifier.thresholds_, strict=True)
        },
        "training_data": {"fingerprint": data_fingerprint},
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in classifier.get_params().items()},
        "metrics": metrics or {},
        "libraries": library_versions(),
        "model_file": MODEL_FILE,
        "model_sha256": checksum,
    }
    manifest["params"]["taxonomy"] = list(manifest["taxonomy"])
    _atomic_write(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def read_manifest(directory: Path) -> dict:
    """Read and check the manifest of the artifact in ``directory`` (no unpickling)."""
    directory = Path(directory)
    if directory.is_file() and directory.name == MANIFEST_FILE:
        directory = directory.parent
    path = directory / MANIFEST_FILE
    if not directory.exists():
        raise ArtifactError(f"no model artifact at {directory}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing: not a model artifact") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path} is unreadable or not JSON ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a {FORMAT} manifest")
    for key in ("name", "version", "taxonomy", "thresholds", "model_sha256", "libraries"):
        if key not in manifest:
            raise ArtifactError(f"{path} lacks the field {key!r}")
    return manifest


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_artifact(directory: Path, *, expected_sha256: str | None = None) -> LoadedModel:
    """Verify and load an artifact.

    Checks, in order: the manifest; the model file's SHA-256 against the
    manifest (before unpickling); the scikit-learn version it was made with;
    then that the unpickled object is an EventClassifier whose taxonomy and
    thresholds are the manifest's.

    Raises
    ------
    ArtifactError
        With a one-line reason.
    """
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    manifest = read_manifest(directory)
    model_path = directory / manifest.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise ArtifactError(f"{model_path} is missing")
    actual = sha256_file(model_path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ArtifactError(
            f"{model_path} is not the pinned model (NEWSEVENTS_MODEL_SHA256 {expected_sha256[:12]}..., "
            f"file {actual[:12]}...); refusing to load it"
        )
    if actual != manifest["model_sha256"]:
        raise ArtifactError(
            f"checksum mismatch for {model_path}: the file is corrupt or was modified "
            f"(expected {manifest['model_sha256'][:12]}..., got {actual[:12]}...); refusing to load it"
        )
    made_with = manifest["libraries"].get("scikit-learn", "?")
    if _minor(made_with) != _minor(sklearn.__version__):
        raise ArtifactError(
            f"{directory} was made with scikit-learn {made_with}, this is {sklearn.__version__}: retrain it "
            "(`newsevents train`)"
        )
    try:
        classifier = joblib.load(model_path)
    except Exception as exc:  # a checksummed file that still fails to load: report, never crash
        raise ArtifactError(f"{model_path} could not be loaded ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(classifier, EventClassifier):
        raise ArtifactError(f"{model_path} holds a {type(classifier).__name__}, not an EventClassifier")
    taxonomy = [str(t) for t in classifier.classes_]
    if taxonomy != list(manifest["taxonomy"]):
        raise ArtifactError(f"{directory}: the manifest's taxonomy does not match the model's")
    thresholds = {t: round(float(v), 4) for t, v in zip(taxonomy, classifier.thresholds_, strict=True)}
    if thresholds != {k: round(float(v), 4) for k, v in manifest["thresholds"].items()}:
        raise ArtifactError(f"{directory}: the manifest's thresholds do not match the model's")
    return LoadedModel(classifier, manifest, directory)
