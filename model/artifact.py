"""Model artifacts: fitted models on disk that cannot run code when loaded.

An artifact is a folder::

    model.skops      the fitted EventClassifier
    entities.skops   the fitted CompanyExtractor (companies and markets; optional)
    manifest.json    name, version, created_at, taxonomy, thresholds,
                     training-data fingerprint, metrics, library versions,
                     and the SHA-256 of every file above

Files are written with ``skops``, whose loader builds only the types it is
told to trust: :func:`load_artifact` lists what a file would build and refuses
it when anything is outside :data:`TRUSTED_TYPES` (our estimator classes and
the scikit-learn and NumPy parts they hold), before anything is constructed.
A substituted file therefore cannot execute code; a checksum mismatch with the
manifest is refused too (corruption), and an operator can pin the manifest
itself with ``NEWSEVENTS_MODEL_SHA256`` (a second guard against substitution).
The manifest is written last (atomically), so a watcher that sees a new
manifest sees a complete artifact.

Artifacts of the first format (``newsevents.model/v1``, a joblib pickle, which
runs code when loaded) are refused with a one-line message; ``newsevents
convert-model`` converts one you trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
import skops
import skops.io as sio

from newsevents.model.classifier import EventClassifier
from newsevents.model.entities import CompanyExtractor

FORMAT = "newsevents.model/v2"
LEGACY_FORMAT = "newsevents.model/v1"
MODEL_FILE = "model.skops"
ENTITIES_FILE = "entities.skops"
MANIFEST_FILE = "manifest.json"

#: Everything an artifact file may build beyond what skops trusts by default
#: (scikit-learn estimators, NumPy and SciPy containers, built-in types): our
#: own estimator classes and the two scikit-learn helpers the company
#: extractor's tree models keep. Nothing that can call arbitrary code.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "newsevents.model.classifier.EventClassifier",
        "newsevents.model.features.SentenceNgramCounter",
        "newsevents.model.entities.CompanyExtractor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # A functools.partial of check_array (an input validator), from the event-type column's encoder.
        "sklearn.utils.validation.check_array",
        "functools.partial",
    }
)


class ArtifactError(Exception):
    """An artifact that cannot be used; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified classifier (and company extractor, when the artifact has one) with its manifest."""

    classifier: EventClassifier
    manifest: dict
    path: Path
    entities: CompanyExtractor | None = None

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
        "skops": skops.__version__,
    }


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump(obj: Any, path: Path) -> str:
    """Write ``obj`` with skops (through a temporary file); return the file's SHA-256."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        sio.dump(obj, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_file(path)


def _write_manifest(directory: Path, manifest: dict) -> None:
    _atomic_write(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())


def save_artifact(
    classifier: EventClassifier,
    directory: Path,
    *,
    name: str,
    data_fingerprint: str,
    metrics: dict | None = None,
    version: str | None = None,
    created_at: datetime | None = None,
    entities: CompanyExtractor | None = None,
) -> dict:
    """Write ``classifier`` (and ``entities``) and the manifest into ``directory``; return the manifest.

    ``version`` defaults to the UTC creation time plus the first 8 hex digits
    of the model file's checksum, e.g. ``2026.11.27.0102-3fa9c1d2``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checksum = _dump(classifier, directory / MODEL_FILE)
    files = {MODEL_FILE: checksum}
    if entities is not None:
        files[ENTITIES_FILE] = _dump(entities, directory / ENTITIES_FILE)
    else:
        (directory / ENTITIES_FILE).unlink(missing_ok=True)
    for stale in ("model.joblib", "entities.joblib", "entities.json"):  # first-format files
        (directory / stale).unlink(missing_ok=True)
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
        "files": files,
        "model_file": MODEL_FILE,
        "model_sha256": checksum,
    }
    manifest["params"]["taxonomy"] = list(manifest["taxonomy"])
    _write_manifest(directory, manifest)
    return manifest


def attach_entities(directory: Path, entities: CompanyExtractor, *, metrics: dict | None = None) -> dict:
    """Add (or replace) the company extractor of an existing artifact; return the new manifest.

    The extractor is trained on the evidence of the artifact's own classifier,
    so it is attached after the classifier is written.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    manifest["files"] = {**manifest.get("files", {}), ENTITIES_FILE: _dump(entities, directory / ENTITIES_FILE)}
    if metrics is not None:
        manifest["metrics"] = {**manifest.get("metrics", {}), "entities": metrics}
    _write_manifest(directory, manifest)
    return manifest


def manifest_sha256(directory: Path) -> str:
    """The digest to pin with ``NEWSEVENTS_MODEL_SHA256`` (the manifest names every file's digest)."""
    return sha256_file(Path(directory) / MANIFEST_FILE)


def read_manifest(directory: Path) -> dict:
    """Read and check the manifest of the artifact in ``directory`` (no model file is read)."""
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
    if isinstance(manifest, dict) and manifest.get("format") == LEGACY_FORMAT:
        raise ArtifactError(
            f"{directory} is a {LEGACY_FORMAT} artifact (a joblib pickle, which can run code when loaded): "
            f"convert it with `newsevents convert-model {directory}` if you trust where it came from, or retrain"
        )
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a {FORMAT} manifest")
    for key in ("name", "version", "taxonomy", "thresholds", "files", "model_sha256", "libraries"):
        if key not in manifest:
            raise ArtifactError(f"{path} lacks the field {key!r}")
    files = manifest["files"]
    if not isinstance(files, dict) or MODEL_FILE not in files or not set(files) <= {MODEL_FILE, ENTITIES_FILE}:
        raise ArtifactError(f"{path}: 'files' must name {MODEL_FILE} (and optionally {ENTITIES_FILE})")
    return manifest


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _load_trusted(path: Path, expected: type) -> Any:
    """Build the object in a skops file, refusing any type outside TRUSTED_TYPES (checked before building)."""
    try:
        wanted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a skops archive at all
        raise ArtifactError(f"{path} is not a readable skops file ({exc.__class__.__name__})") from None
    refused = sorted(set(wanted) - TRUSTED_TYPES)
    if refused:
        shown = ", ".join(refused[:3]) + (", ..." if len(refused) > 3 else "")
        raise ArtifactError(f"{path} would build types newsevents does not trust ({shown}); refusing to load it")
    try:
        obj = sio.load(path, trusted=list(wanted))
    except Exception as exc:  # a verified file that still fails to load: report, never crash
        raise ArtifactError(f"{path} could not be loaded ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(obj, expected):
        raise ArtifactError(f"{path} holds a {type(obj).__name__}, not a {expected.__name__}")
    return obj


def load_artifact(directory: Path, *, expected_sha256: str | None = None) -> LoadedModel:
    """Verify and load an artifact.

    Checks, in order: the manifest (and its pinned digest, when given); each
    file's SHA-256 against the manifest; the scikit-learn version it was made
    with; that every type a file would build is trusted; then that the
    classifier's taxonomy and thresholds are the manifest's.

    Raises
    ------
    ArtifactError
        With a one-line reason.
    """
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    manifest = read_manifest(directory)
    if expected_sha256 is not None:
        actual = sha256_file(directory / MANIFEST_FILE)
        if actual != expected_sha256:
            raise ArtifactError(
                f"{directory} is not the pinned model (NEWSEVENTS_MODEL_SHA256 {expected_sha256[:12]}..., "
                f"manifest {actual[:12]}...); refusing to load it"
            )
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        actual = sha256_file(path)
        if actual != digest:
            raise ArtifactError(
                f"checksum mismatch for {path}: the file is corrupt or was modified "
                f"(expected {str(digest)[:12]}..., got {actual[:12]}...); refusing to load it"
            )
    made_with = str(manifest["libraries"].get("scikit-learn", "?"))
    if _minor(made_with) != _minor(sklearn.__version__):
        raise ArtifactError(
            f"{directory} was made with scikit-learn {made_with}, this is {sklearn.__version__}: retrain it "
            "(`newsevents train`)"
        )
    classifier = _load_trusted(directory / MODEL_FILE, EventClassifier)
    entities = (
        _load_trusted(directory / ENTITIES_FILE, CompanyExtractor) if ENTITIES_FILE in manifest["files"] else None
    )
    taxonomy = [str(t) for t in getattr(classifier, "classes_", [])]
    if taxonomy != list(manifest["taxonomy"]):
        raise ArtifactError(f"{directory}: the manifest's taxonomy does not match the model's")
    thresholds = dict(zip(taxonomy, np.round(np.asarray(classifier.thresholds_, dtype=float), 4), strict=False))
    if {k: float(v) for k, v in thresholds.items()} != {
        k: round(float(v), 4) for k, v in manifest["thresholds"].items()
    }:
        raise ArtifactError(f"{directory}: the manifest's thresholds do not match the model's")
    try:  # a model saved by an older classifier lacks parts this code reads: say so now, not mid-stream
        classifier.classify([["Acme agreed to buy Beta."]])  # scores and evidence, what the stream calls
    except (AttributeError, ValueError, IndexError) as exc:
        raise ArtifactError(
            f"{directory} was saved by another version of the newsevents classifier ({type(exc).__name__}): "
            "retrain it (`newsevents train`)"
        ) from None
    return LoadedModel(classifier, manifest, directory, entities)


def convert_legacy(directory: Path, output: Path | None = None) -> dict:
    """Rewrite a first-format (joblib) artifact as a skops artifact; return the new manifest.

    Unpickling runs code: call this only on an artifact you trust. Its model
    file is checked against its own manifest first (corruption, not tampering).
    """
    import joblib  # only for this conversion

    directory = Path(directory)
    path = directory / MANIFEST_FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path} is missing or not JSON ({exc.__class__.__name__})") from None
    if not isinstance(old, dict) or old.get("format") != LEGACY_FORMAT:
        raise ArtifactError(f"{directory} is not a {LEGACY_FORMAT} artifact")
    model_path = directory / str(old.get("model_file", "model.joblib"))
    if not model_path.is_file() or sha256_file(model_path) != old.get("model_sha256"):
        raise ArtifactError(f"{model_path} is missing or does not match its manifest; refusing to convert it")
    try:
        classifier = joblib.load(model_path)
    except Exception as exc:
        raise ArtifactError(f"{model_path} could not be loaded ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(classifier, EventClassifier):
        raise ArtifactError(f"{model_path} holds a {type(classifier).__name__}, not an EventClassifier")
    target = Path(output) if output else directory
    created = (
        datetime.fromisoformat(str(old.get("created_at", "")).replace("Z", "+00:00")) if old.get("created_at") else None
    )
    return save_artifact(
        classifier,
        target,
        name=str(old.get("name", "converted")),
        data_fingerprint=str(old.get("training_data", {}).get("fingerprint", "")),
        metrics=old.get("metrics") or {},
        version=str(old["version"]) if old.get("version") else None,
        created_at=created,
    )
