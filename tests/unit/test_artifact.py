"""Model artifacts: verified before anything is built, and unable to run code from a substituted file."""

import json
import pickle
import zipfile

import pytest
import skops.io as sio

from newsevents.model.artifact import (
    LEGACY_FORMAT,
    MODEL_FILE,
    ArtifactError,
    convert_legacy,
    load_artifact,
    manifest_sha256,
    read_manifest,
    sha256_file,
)


def test_round_trip_keeps_predictions_and_manifest(artifact_dir, fitted):
    loaded = load_artifact(artifact_dir)
    manifest = loaded.manifest
    assert manifest["name"] == "test-model" and manifest["format"] == "newsevents.model/v2"
    assert manifest["taxonomy"] == list(fitted.classes_)
    assert set(manifest["thresholds"]) == set(fitted.classes_)
    assert manifest["training_data"]["fingerprint"] == "sha256:test"
    assert {"scikit-learn", "numpy", "python", "skops"} <= set(manifest["libraries"])
    assert manifest["files"][MODEL_FILE] == manifest["model_sha256"] and manifest["created_at"].endswith("Z")
    doc = [["Acme agrees to buy Foo for $3 billion."]]
    assert (loaded.classifier.predict_proba(doc) == fitted.predict_proba(doc)).all()


def test_tampered_model_file_is_refused_before_it_is_read(artifact_dir, monkeypatch):
    model_file = artifact_dir / MODEL_FILE
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    monkeypatch.setattr(sio, "load", lambda *a, **k: pytest.fail("read a file that failed its checksum"))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_artifact(artifact_dir)


class Planted:
    """What an attacker would plant: building it runs code."""

    def __setstate__(self, state):
        open(state["marker"], "w").close()

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _substitute(artifact_dir, data: bytes) -> None:
    """Replace the model file and fix the manifest's checksum, as an attacker with write access could."""
    (artifact_dir / MODEL_FILE).write_bytes(data)
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    manifest["files"][MODEL_FILE] = manifest["model_sha256"] = sha256_file(artifact_dir / MODEL_FILE)
    (artifact_dir / "manifest.json").write_text(json.dumps(manifest))


def test_a_substituted_skops_file_with_a_matching_checksum_runs_no_code(artifact_dir, tmp_path):
    marker = tmp_path / "code-ran"
    planted = Planted()
    planted.marker = str(marker)
    evil = tmp_path / "evil.skops"
    sio.dump(planted, evil)
    _substitute(artifact_dir, evil.read_bytes())
    with pytest.raises(ArtifactError, match="does not trust"):
        load_artifact(artifact_dir)
    assert not marker.exists()


def test_a_substituted_pickle_runs_no_code(artifact_dir, tmp_path):
    marker = tmp_path / "code-ran"
    planted = Planted()
    planted.marker = str(marker)
    _substitute(artifact_dir, pickle.dumps(planted))
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_artifact(artifact_dir)
    assert not marker.exists()


def test_a_pinned_manifest_digest_refuses_any_other_artifact(artifact_dir):
    pinned = manifest_sha256(artifact_dir)
    assert load_artifact(artifact_dir, expected_sha256=pinned).version
    with pytest.raises(ArtifactError, match="not the pinned model"):
        load_artifact(artifact_dir, expected_sha256="0" * 64)


def test_manifest_that_lies_about_thresholds_is_refused(artifact_dir):
    path = artifact_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    first = next(iter(manifest["thresholds"]))
    manifest["thresholds"][first] = 0.01
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="thresholds"):
        load_artifact(artifact_dir)


def test_other_sklearn_version_is_refused(artifact_dir):
    path = artifact_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"scikit-learn 0\.24\.2"):
        load_artifact(artifact_dir)


def test_a_model_saved_by_an_older_classifier_is_refused_at_load(tmp_path, fitted):
    # Fitted with no hedging signal, as the previous release saved it: without the
    # check, the first batch of the stream would crash the model process instead.
    import copy

    from newsevents.model.artifact import save_artifact

    older = copy.deepcopy(fitted)
    del older.hedge_columns_
    save_artifact(older, tmp_path / "old", name="old", data_fingerprint="sha256:test")
    with pytest.raises(ArtifactError, match=r"another version of the newsevents classifier.*retrain"):
        load_artifact(tmp_path / "old")


def test_a_joblib_artifact_is_refused_in_one_line_that_says_how_to_convert_it(artifact_dir, fitted, tmp_path):
    import joblib

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    joblib.dump(fitted, legacy / "model.joblib")
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    manifest.update(format=LEGACY_FORMAT, model_file="model.joblib", model_sha256=sha256_file(legacy / "model.joblib"))
    (legacy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="newsevents convert-model") as refused:
        load_artifact(legacy)
    assert "\n" not in str(refused.value)
    converted = convert_legacy(legacy, tmp_path / "converted")
    loaded = load_artifact(tmp_path / "converted")
    assert loaded.version == converted["version"] == manifest["version"]
    doc = [["Acme agrees to buy Foo for $3 billion."]]
    assert (loaded.classifier.predict_proba(doc) == fitted.predict_proba(doc)).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing"),
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not a newsevents.model/v2"),
    ],
)
def test_bad_manifests(artifact_dir, content, message):
    path = artifact_dir / "manifest.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    with pytest.raises(ArtifactError, match=message):
        read_manifest(artifact_dir)


def test_model_files_are_compressed_archives(artifact_dir):
    assert zipfile.is_zipfile(artifact_dir / MODEL_FILE)


def test_missing_folder(tmp_path):
    with pytest.raises(ArtifactError, match="no model artifact"):
        load_artifact(tmp_path / "nope")
