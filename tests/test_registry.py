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
    with pytest.raises(RegistryError, match="nothing to roll back to") as refused:
        reg.rollback()
    # three were active: the words name the earliest, and the one rolled back from
    assert f"{a} is the earliest version this registry has served" in str(refused.value)
    assert f"`southbound models promote {b}` serves it again" in str(refused.value)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["version"] for e in events] == [a, b, c, b, a]


def test_every_event_names_its_actor(tmp_path, monkeypatch):
    """The first model's activation too: never ``actor: null`` in events.jsonl."""
    import getpass
    monkeypatch.setattr(getpass, "getuser", lambda: "login-of-the-process")
    reg = Registry(tmp_path)
    a = reg.save(Toy("a"), {}, actor="ana")
    b = reg.save(Toy("b"), {})
    reg.promote(b, actor="ben")
    reg.set_shadow(a)
    reg.rollback()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["actor"] for e in events] == ["ana", "ben", "login-of-the-process",
                                            "login-of-the-process"]


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


# --- signed artifacts (SOUTHBOUND_SIGNING_KEY) ------------------------------------

KEY = "k" * 16 + "0123456789abcdef0123"
OTHER_KEY = "o" * 40


def _rewrite_manifest(path, **changes):
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def test_a_signed_model_loads_with_its_key_and_without_one(tmp_path):
    signed = Registry(tmp_path, signing_key=KEY)
    version = signed.save(Toy("a"), {"metrics": {"lift": float("nan")}, "rows": 3})
    manifest = json.loads((tmp_path / "versions" / version / "manifest.json").read_text())
    assert manifest["signature"]["algorithm"] == "hmac-sha256"
    assert len(manifest["signature"]["value"]) == 64
    assert KEY not in json.dumps(manifest)
    model, loaded = signed.load()
    assert model.name == "a" and loaded["version"] == version
    assert Registry(tmp_path).load(version)[0].name == "a"  # no key: unchanged behaviour


def test_a_tampered_artifact_with_a_matching_sha256_is_refused_by_its_signature(
        tmp_path, monkeypatch):
    import hashlib

    import joblib
    reg = Registry(tmp_path, signing_key=KEY)
    version = reg.save(Toy("good"), {})
    folder = tmp_path / "versions" / version
    joblib.dump(Toy("evil"), folder / "model.joblib", compress=3)
    _rewrite_manifest(folder / "manifest.json", artifact_sha256=hashlib.sha256(
        (folder / "model.joblib").read_bytes()).hexdigest())
    assert Registry(tmp_path).load(version)[0].name == "evil"  # the SHA-256 alone is fooled
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ArtifactError, match="fails its signature check: the manifest or "
                                            "the artifact hash .* changed after signing"):
        reg.load(version)


def test_a_changed_manifest_field_is_refused(tmp_path):
    reg = Registry(tmp_path, signing_key=KEY)
    version = reg.save(Toy("a"), {"score_quantiles": [0.1, 0.5, 0.9]})
    _rewrite_manifest(tmp_path / "versions" / version / "manifest.json",
                      score_quantiles=[0.9, 0.95, 0.99])
    with pytest.raises(ArtifactError, match="fails its signature check"):
        reg.load(version)


def test_another_key_is_refused(tmp_path):
    version = Registry(tmp_path, signing_key=OTHER_KEY).save(Toy("a"), {})
    with pytest.raises(ArtifactError, match="signed with another key"):
        Registry(tmp_path, signing_key=KEY).load(version)


def test_an_unsigned_model_is_refused_when_a_key_is_set(tmp_path, monkeypatch):
    import joblib
    version = Registry(tmp_path).save(Toy("a"), {})
    reg = Registry(tmp_path, signing_key=KEY)
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ArtifactError, match=f"model {version} is not signed and "
                                            "SOUTHBOUND_SIGNING_KEY is set"):
        reg.load()
    with pytest.raises(ArtifactError, match="not signed"):
        reg.promote(version)


def test_a_signed_manifest_copied_under_another_version_is_refused(tmp_path):
    import shutil
    reg = Registry(tmp_path, signing_key=KEY)
    version = reg.save(Toy("a"), {})
    shutil.copytree(tmp_path / "versions" / version, tmp_path / "versions" / "20990101T000000Z-x")
    with pytest.raises(ArtifactError, match="carries the signed manifest of"):
        reg.load("20990101T000000Z-x")


def test_malformed_signatures_are_refused(tmp_path):
    reg = Registry(tmp_path, signing_key=KEY)
    version = reg.save(Toy("a"), {})
    path = tmp_path / "versions" / version / "manifest.json"
    for bad in ("deadbeef", {"algorithm": "none", "value": ""},
                {"algorithm": "hmac-sha256", "value": 5}, {"algorithm": "hmac-sha256",
                                                           "value": "é" * 64}):
        _rewrite_manifest(path, signature=bad)
        with pytest.raises(ArtifactError, match="signature"):
            reg.load(version)


def test_a_short_key_is_refused_and_an_empty_one_means_no_key(tmp_path):
    with pytest.raises(RegistryError, match="SOUTHBOUND_SIGNING_KEY is 6 characters long"):
        Registry(tmp_path, signing_key="secret")
    assert not Registry(tmp_path, signing_key="").signing


def test_sign_vouches_for_an_old_version_whose_artifact_matches(tmp_path):
    old = Registry(tmp_path).save(Toy("a"), {})
    broken = Registry(tmp_path).save(Toy("b"), {})
    artifact = tmp_path / "versions" / broken / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    reg = Registry(tmp_path, signing_key=KEY)
    reg.sign(old)
    assert reg.load(old)[0].name == "a"
    with pytest.raises(ArtifactError, match="refusing to sign it"):
        reg.sign(broken)
    with pytest.raises(RegistryError, match="nothing to sign with"):
        Registry(tmp_path).sign(old)


def test_cli_signs_at_training_and_refuses_unsigned_at_promotion(tmp_path, runner,
                                                                 monkeypatch):
    from southbound.cli import main
    unsigned = Registry(tmp_path).save(Toy("a"), {})
    signed = Registry(tmp_path, signing_key=KEY).save(Toy("b"), {})
    monkeypatch.setenv("SOUTHBOUND_SIGNING_KEY", KEY)
    result = runner.invoke(main, ["models", "promote", signed, "--registry", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["models", "promote", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "is not signed" in result.output
    assert Registry(tmp_path).active_version() == signed
    result = runner.invoke(main, ["models", "sign", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["models", "promote", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("SOUTHBOUND_SIGNING_KEY", "short")
    result = runner.invoke(main, ["models", "list", "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "at least 32" in result.output


@pytest.mark.parametrize("garbage", ["{not json", "[]", '{"history": []}', '{"version": 5}',
                                     '{"version": "v", "history": "x"}'])
def test_a_garbled_active_json_is_a_registry_error(tmp_path, garbage):
    reg = Registry(tmp_path)
    reg.save(Toy("a"), {})
    (tmp_path / "active.json").write_text(garbage)
    with pytest.raises(RegistryError, match="active.json is unreadable"):
        reg.load()
