import json

import pytest

from newsevents.model.artifact import ArtifactError, load_artifact, read_manifest


def test_round_trip_keeps_predictions_and_manifest(artifact_dir, fitted):
    loaded = load_artifact(artifact_dir)
    manifest = loaded.manifest
    assert manifest["name"] == "test-model"
    assert manifest["taxonomy"] == list(fitted.classes_)
    assert set(manifest["thresholds"]) == set(fitted.classes_)
    assert manifest["training_data"]["fingerprint"] == "sha256:test"
    assert {"scikit-learn", "numpy", "python"} <= set(manifest["libraries"])
    assert len(manifest["model_sha256"]) == 64 and manifest["created_at"].endswith("Z")
    doc = [["Acme agrees to buy Foo for $3 billion."]]
    assert (loaded.classifier.predict_proba(doc) == fitted.predict_proba(doc)).all()


def test_tampered_model_file_is_refused_before_unpickling(artifact_dir, monkeypatch):
    import joblib

    model_file = artifact_dir / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled a file that failed its checksum"))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_artifact(artifact_dir)


def test_replaced_model_file_is_refused(artifact_dir, tmp_path):
    import joblib

    joblib.dump({"evil": True}, artifact_dir / "model.joblib")
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(artifact_dir)


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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing"),
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not a newsevents.model/v1"),
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


def test_missing_folder(tmp_path):
    with pytest.raises(ArtifactError, match="no model artifact"):
        load_artifact(tmp_path / "nope")
