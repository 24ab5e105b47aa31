"""The manifest's schema: every manifest written before it reads, lists, promotes and rolls
back; new ones carry the same keys plus ``schema_version``."""
import json
import shutil
from pathlib import Path

import joblib
import pytest

from models.manifest import SCHEMA_VERSION, Manifest
from models.registry import ArtifactError, Registry, RegistryError, sha256_file

DATA = Path(__file__).resolve().parent / "data"
#: saved by the registry before the schema (no schema_version), signed with a key whose
#: public half is manifest_v1.pub; a trimmed manifest of a real training, with a backtest
OLD = DATA / "manifest_v1.json"
#: the keys training wrote before the schema (the registry adds its own on saving)
TRAINING_KEYS = {"kind", "contract_version", "code_version", "features", "excluded_features",
                 "features_without_values", "categories", "params", "training", "trees",
                 "calibration", "data", "warnings", "score_quantiles", "metrics", "libraries",
                 "training_seconds"}


def _old():
    return json.loads(OLD.read_text())


def test_a_manifest_saved_before_the_schema_reads_as_version_1_and_writes_back_the_same():
    old = _old()
    record = Manifest.from_dict(old)
    assert "schema_version" not in old and record.schema_version == 1
    assert record.version == old["version"] and record.trees == old["trees"]
    assert record.extra == {"backtest": old["backtest"]}
    assert record.to_dict() == {**old, "schema_version": 1}


def test_keys_left_out_take_the_defaults_readers_took():
    record = Manifest.from_dict({"data": None, "trees": 7})
    assert (record.data, record.training, record.warnings, record.excluded_features) == (
        {}, {}, [], [])
    assert (record.artifact, record.signature, record.version, record.trees) == (
        "model.joblib", None, None, 7)


@pytest.mark.parametrize("data, match", [
    ({"schema_version": SCHEMA_VERSION + 1}, "newer than this code reads"),
    ({"schema_version": "1"}, "not a positive integer"),
    ([1, 2], "not a JSON object"),
], ids=["newer", "a string", "a list"])
def test_a_manifest_this_code_cannot_read_is_refused(data, match):
    with pytest.raises(ValueError, match=match):
        Manifest.from_dict(data)


def _registry_of_old_manifests(tmp_path, count=2):
    """A registry folder of ``count`` versions as the code before the schema saved them,
    each with a toy artifact (insecure mode: the artifact's hash is rewritten)."""
    versions = []
    for i in range(count):
        manifest = _old()
        version = manifest["version"] = f"20250101T00000{i}Z-old"
        folder = tmp_path / "versions" / version
        folder.mkdir(parents=True)
        joblib.dump({"toy": i}, folder / "model.joblib")
        manifest["artifact_sha256"] = sha256_file(folder / "model.joblib")
        (folder / "manifest.json").write_text(json.dumps(manifest))
        versions.append(version)
    return Registry(tmp_path, private_key=None, public_key=None, allow_unsigned=True), versions


def test_manifests_saved_before_the_schema_list_promote_and_roll_back(tmp_path):
    reg, (first, second) = _registry_of_old_manifests(tmp_path)
    assert [m["version"] for m in reg.versions()] == [first, second]
    assert all("schema_version" not in m for m in reg.versions())  # listed as stored
    reg.promote(first)
    reg.promote(second)
    assert reg.load()[0] == {"toy": 1}
    assert reg.rollback() == first and reg.active_version() == first
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()


def test_a_signed_manifest_saved_before_the_schema_still_verifies(tmp_path):
    """Its signature covers the manifest as stored: the schema adds nothing to check."""
    reg = Registry(tmp_path, private_key=None, public_key=DATA / "manifest_v1.pub")
    old = _old()
    reg.verify_signature(old["version"], old)
    folder = tmp_path / "versions" / old["version"]
    folder.mkdir(parents=True)
    shutil.copy(OLD, folder / "manifest.json")
    assert reg.manifest(old["version"]) == old
    with pytest.raises(ArtifactError, match="artifact of .* is unreadable"):
        reg.load(old["version"])  # verified, then the artifact (not kept here) is missing


def test_a_manifest_of_a_newer_schema_is_refused_naming_it(tmp_path):
    reg, (version,) = _registry_of_old_manifests(tmp_path, count=1)
    path = tmp_path / "versions" / version / "manifest.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), schema_version=99)))
    with pytest.raises(ArtifactError, match=f"manifest of '{version}' is unreadable: "
                                            "schema_version 99 is newer"):
        reg.load(version)


def test_training_writes_the_keys_it_wrote_before_plus_the_schema_version(trained, tmp_path):
    _, manifest = trained
    assert set(manifest) == TRAINING_KEYS | {"schema_version"}
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert Manifest.from_dict(manifest) == Manifest.from_dict(
        Manifest.from_dict(manifest).to_dict())
    reg = Registry(tmp_path)
    saved = reg.manifest(reg.save(*trained))
    assert set(saved) == set(_old()) - {"backtest"} | {"schema_version"}


def test_the_registry_saves_a_manifest_given_by_field(tmp_path):
    reg = Registry(tmp_path)
    version = reg.save({"toy": 1}, Manifest(trees=3, warnings=["few seizures"]))
    saved = reg.manifest(version)
    assert (saved["trees"], saved["warnings"], saved["schema_version"]) == (
        3, ["few seizures"], SCHEMA_VERSION)
    assert Manifest.from_dict(saved).version == version == reg.load()[1]["version"]
