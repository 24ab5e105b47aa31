"""The registry: versions, activation, rollback, and refusing tampered artifacts."""
import json

import pytest

from models.registry import ArtifactError, Registry, RegistryError


class Toy:
    """A picklable stand-in artifact (the registry stores any object)."""

    def __init__(self, name):
        self.name = name


def test_first_model_becomes_active_and_later_ones_wait(tmp_path):
    reg = Registry(tmp_path / "reg")
    first = reg.save(Toy("a"), {"metrics": {}})
    second = reg.save(Toy("b"), {"metrics": {}})
    assert reg.active_version() == first
    assert [m["version"] for m in reg.versions()] == sorted([first, second])
    model, manifest = reg.load()
    assert model.name == "a" and manifest["version"] == first
    assert len(manifest["artifact_sha256"]) == 64


def test_promote_and_rollback(tmp_path):
    reg = Registry(tmp_path)
    a = reg.save(Toy("a"), {})
    b = reg.save(Toy("b"), {})
    c = reg.save(Toy("c"), {})
    reg.promote(b)
    reg.promote(c)
    assert reg.rollback() == b
    assert reg.rollback() == a
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["version"] for e in events] == [a, b, c, b, a]


def test_tampered_artifact_is_refused_before_unpickling(tmp_path):
    reg = Registry(tmp_path)
    version = reg.save(Toy("a"), {})
    artifact = tmp_path / "versions" / version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="refusing to load it"):
        reg.load(version)


def test_promoting_a_broken_version_keeps_the_active_one(tmp_path):
    reg = Registry(tmp_path)
    good = reg.save(Toy("a"), {})
    bad = reg.save(Toy("b"), {})
    (tmp_path / "versions" / bad / "model.joblib").unlink()
    with pytest.raises(ArtifactError, match="unreadable"):
        reg.promote(bad)
    assert reg.active_version() == good


def test_unknown_version_and_empty_registry(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(RegistryError, match="no active model"):
        reg.load()
    with pytest.raises(RegistryError, match="no model version 'nope'"):
        reg.manifest("nope")
    assert reg.versions() == []


def test_the_same_model_saved_twice_at_once_gets_two_versions(tmp_path):
    reg = Registry(tmp_path)
    toy = Toy("same")
    versions = {reg.save(toy, {}) for _ in range(3)}
    assert len(versions) == 3
    assert all(reg.load(v)[0].name == "same" for v in versions)


def test_manifests_are_strict_json(tmp_path):
    reg = Registry(tmp_path)
    version = reg.save(Toy("a"), {"metrics": {"lift": float("nan"), "rows": [1.0, float("inf")]}})
    text = (tmp_path / "versions" / version / "manifest.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert reg.manifest(version)["metrics"] == {"lift": None, "rows": [1.0, None]}
