"""The registry: versions, activation, rollback, and refusing tampered artifacts."""
import json

import pytest

from models.registry import ArtifactError, Registry, RegistryError, SignatureError


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
    """The first model's activation too: never ``actor: null`` in events.jsonl; an event
    with no actor given is the process's login, which $USER and $LOGNAME do not change."""
    import os
    import pwd
    login = pwd.getpwuid(os.geteuid()).pw_name
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "someone-else")
    reg = Registry(tmp_path)
    a = reg.save(Toy("a"), {}, actor="ana")
    b = reg.save(Toy("b"), {})
    reg.promote(b, actor="ben")
    reg.set_shadow(a)
    reg.rollback()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["actor"] for e in events] == ["ana", "ben", login, login]


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


# --- signed artifacts (Ed25519: the private key signs, the public key verifies) ------

def _rewrite_manifest(path, **changes):
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A key pair of this module's own (the session's is in $SOUTHBOUND_*_KEY)."""
    from models.signing import create_key_pair, load_private_key, load_public_key
    private, public, _ = create_key_pair(tmp_path_factory.mktemp("keys"))
    return load_private_key(private), load_public_key(public)


@pytest.fixture(scope="module")
def other_pair(tmp_path_factory):
    from models.signing import create_key_pair, load_private_key, load_public_key
    private, public, _ = create_key_pair(tmp_path_factory.mktemp("other-keys"))
    return load_private_key(private), load_public_key(public)


def _trainer(root, pair):
    """The training side: the private key signs."""
    return Registry(root, private_key=pair[0], public_key=pair[1], allow_unsigned=False)


def _service(root, pair):
    """The service's view: the public key only."""
    return Registry(root, private_key=None, public_key=pair[1], allow_unsigned=False)


def test_a_saved_model_is_signed_and_loads_with_the_public_key_alone(tmp_path, pair):
    import base64
    version = _trainer(tmp_path, pair).save(Toy("a"), {"metrics": {"lift": float("nan")}})
    manifest = json.loads((tmp_path / "versions" / version / "manifest.json").read_text())
    assert manifest["signature"]["algorithm"] == "ed25519"
    assert len(base64.b64decode(manifest["signature"]["value"])) == 64
    service = _service(tmp_path, pair)
    assert not service.signing
    model, loaded = service.load()
    assert model.name == "a" and loaded["version"] == version


def test_the_public_key_cannot_sign(tmp_path, pair):
    """The service's side saves unsigned (and so can load nothing it saved) and cannot sign."""
    service = _service(tmp_path, pair)
    version = service.save(Toy("a"), {})
    assert "signature" not in service.manifest(version)
    with pytest.raises(SignatureError, match="is not signed"):
        service.load(version)
    with pytest.raises(RegistryError, match="nothing to sign with"):
        service.sign(version)


def test_a_tampered_artifact_with_a_matching_sha256_is_refused_by_its_signature(
        tmp_path, monkeypatch, pair):
    import hashlib

    import joblib
    version = _trainer(tmp_path, pair).save(Toy("good"), {})
    folder = tmp_path / "versions" / version
    joblib.dump(Toy("evil"), folder / "model.joblib", compress=3)
    _rewrite_manifest(folder / "manifest.json", artifact_sha256=hashlib.sha256(
        (folder / "model.joblib").read_bytes()).hexdigest())
    insecure = Registry(tmp_path, private_key=None, public_key=None, allow_unsigned=True)
    assert insecure.load(version)[0].name == "evil"  # the SHA-256 alone is fooled
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(SignatureError, match="fails its signature check: the manifest or "
                                             "the artifact hash .* changed after signing"):
        _service(tmp_path, pair).load(version)


def test_the_bytes_checked_are_the_bytes_unpickled(tmp_path, monkeypatch, pair):
    """An artifact swapped between the checks and the load (whoever can write the folder
    could race it) is never read: the verified bytes are unpickled from memory."""
    import joblib
    version = _trainer(tmp_path, pair).save(Toy("good"), {})
    artifact = tmp_path / "versions" / version / "model.joblib"
    real = joblib.load

    def swap_then_load(source, *args, **kwargs):
        joblib.dump(Toy("evil"), artifact)
        return real(source, *args, **kwargs)
    monkeypatch.setattr(joblib, "load", swap_then_load)
    assert _service(tmp_path, pair).load(version)[0].name == "good"


def test_a_changed_manifest_field_is_refused(tmp_path, pair):
    version = _trainer(tmp_path, pair).save(Toy("a"), {"score_quantiles": [0.1, 0.5, 0.9]})
    _rewrite_manifest(tmp_path / "versions" / version / "manifest.json",
                      score_quantiles=[0.9, 0.95, 0.99])
    with pytest.raises(SignatureError, match="fails its signature check"):
        _service(tmp_path, pair).load(version)


def test_another_key_is_refused(tmp_path, pair, other_pair):
    version = _trainer(tmp_path, other_pair).save(Toy("a"), {})
    with pytest.raises(SignatureError, match="signed with another key") as caught:
        _service(tmp_path, pair).load(version)
    assert caught.value.reason == "signed with another key"


def test_an_unsigned_model_is_refused_naming_the_command_that_signs_it(tmp_path, monkeypatch,
                                                                       pair):
    import joblib
    version = Registry(tmp_path, private_key=None).save(Toy("a"), {})
    reg = _service(tmp_path, pair)
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(SignatureError, match=f"model {version} is not signed: .*"
                                             f"`southbound models sign {version}`"):
        reg.load()
    with pytest.raises(SignatureError, match="not signed"):
        reg.promote(version)


def test_a_version_signed_with_the_retired_hmac_key_is_refused_then_converted(tmp_path, pair):
    """An HMAC signature could be made by whoever verifies it: refused; `sign` checks it
    (with the old key, when given) and the artifact's SHA-256, then signs."""
    import hashlib
    import hmac

    from models.registry import _signed_message
    legacy = "k" * 40
    version = Registry(tmp_path, private_key=None).save(Toy("a"), {})
    path = tmp_path / "versions" / version / "manifest.json"
    manifest = json.loads(path.read_text())
    value = hmac.new(legacy.encode(), _signed_message(manifest, b"southbound-manifest-v1\n"),
                     hashlib.sha256).hexdigest()
    _rewrite_manifest(path, signature={"algorithm": "hmac-sha256", "key_id": "x",
                                       "value": value})
    with pytest.raises(SignatureError, match="HMAC signature of the retired shared key .*"
                                             f"`southbound models sign {version}`"):
        _service(tmp_path, pair).load(version)
    trainer = _trainer(tmp_path, pair)
    with pytest.raises(ArtifactError, match="fails its old HMAC signature check"):
        trainer.sign(version, legacy_key="w" * 40)
    assert trainer.sign(version, legacy_key=legacy)[1] is True
    assert _service(tmp_path, pair).load(version)[0].name == "a"
    assert trainer.sign(version)[1] is False  # already signed with this key: unchanged


def test_a_signed_manifest_copied_under_another_version_is_refused(tmp_path, pair):
    import shutil
    version = _trainer(tmp_path, pair).save(Toy("a"), {})
    shutil.copytree(tmp_path / "versions" / version, tmp_path / "versions" / "20990101T000000Z-x")
    with pytest.raises(SignatureError, match="carries the signed manifest of"):
        _service(tmp_path, pair).load("20990101T000000Z-x")


def test_malformed_signatures_are_refused(tmp_path, pair):
    version = _trainer(tmp_path, pair).save(Toy("a"), {})
    path = tmp_path / "versions" / version / "manifest.json"
    for bad in ("deadbeef", {"algorithm": "none", "value": ""},
                {"algorithm": "ed25519", "value": 5},
                {"algorithm": "ed25519", "value": "é" * 88},
                {"algorithm": "ed25519", "value": "not base64!"}):
        _rewrite_manifest(path, signature=bad)
        with pytest.raises(SignatureError, match="signature"):
            _service(tmp_path, pair).load(version)


def test_no_public_key_refuses_everything_unless_insecure(tmp_path, pair):
    _trainer(tmp_path, pair).save(Toy("a"), {})
    with pytest.raises(SignatureError, match="no public key to verify model .* "
                                             "SOUTHBOUND_PUBLIC_KEY"):
        Registry(tmp_path, private_key=None, public_key=None, allow_unsigned=False).load()
    unsigned = Registry(tmp_path, private_key=None).save(Toy("b"), {})
    insecure = Registry(tmp_path, private_key=None, public_key=None, allow_unsigned=True)
    assert insecure.load(unsigned)[0].name == "b"


def test_keys_come_from_the_environment(tmp_path, pair, monkeypatch):
    """Registry(root) signs with $SOUTHBOUND_PRIVATE_KEY and verifies with
    $SOUTHBOUND_PUBLIC_KEY (as conftest sets them): other code saving models signs them."""
    version = Registry(tmp_path).save(Toy("a"), {})
    assert Registry(tmp_path, private_key=None).load(version)[0].name == "a"
    with pytest.raises(SignatureError, match="another key"):
        _service(tmp_path, pair).load(version)
    from scoring import settings
    monkeypatch.setenv("SOUTHBOUND_PUBLIC_KEY", str(tmp_path / "missing.pub"))
    assert Registry(tmp_path).load(version)[0].name == "a"  # read once, not at each call
    settings.forget()  # read once per process: a new process (or command) reads it again
    with pytest.raises(RegistryError, match="missing.pub cannot be read"):
        Registry(tmp_path).load(version)
    monkeypatch.setenv("SOUTHBOUND_INSECURE_UNSIGNED_MODELS", "1")
    settings.use()
    assert Registry(tmp_path).allow_unsigned


def test_keys_create_writes_a_private_key_only_its_owner_reads(tmp_path, runner):
    import stat

    from models.signing import load_private_key
    from southbound.cli import main
    result = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private, public = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE" not in public.read_bytes()
    before = private.read_bytes()
    result = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys")])
    assert result.exit_code == 2 and "already there" in result.output
    result = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys"),
                                  "--if-missing"])
    assert result.exit_code == 0 and "already in" in result.output
    assert private.read_bytes() == before
    private.chmod(0o644)
    with pytest.raises(ValueError, match="open to other users .*chmod 600"):
        load_private_key(private)


def test_sign_vouches_for_an_old_version_whose_artifact_matches(tmp_path, pair):
    old = Registry(tmp_path, private_key=None).save(Toy("a"), {})
    broken = Registry(tmp_path, private_key=None).save(Toy("b"), {})
    artifact = tmp_path / "versions" / broken / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    reg = _trainer(tmp_path, pair)
    reg.sign(old)
    assert _service(tmp_path, pair).load(old)[0].name == "a"
    with pytest.raises(ArtifactError, match="refusing to sign it"):
        reg.sign(broken)


def test_cli_signs_at_training_and_refuses_unsigned_at_promotion(tmp_path, runner,
                                                                 monkeypatch):
    from southbound.cli import main
    unsigned = Registry(tmp_path, private_key=None).save(Toy("a"), {})
    signed = Registry(tmp_path).save(Toy("b"), {})
    result = runner.invoke(main, ["models", "promote", signed, "--registry", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["models", "show", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 0 and "signature: REFUSED" in result.output
    result = runner.invoke(main, ["models", "promote", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "is not signed" in result.output
    assert Registry(tmp_path).active_version() == signed
    monkeypatch.delenv("SOUTHBOUND_PRIVATE_KEY")  # the service's side: public key only
    result = runner.invoke(main, ["models", "sign", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "nothing to sign with" in result.output
    monkeypatch.undo()
    result = runner.invoke(main, ["models", "sign", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 0 and "signed model" in result.output, result.output
    result = runner.invoke(main, ["models", "promote", unsigned, "--registry", str(tmp_path)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("SOUTHBOUND_PRIVATE_KEY", str(tmp_path / "nowhere.key"))
    result = runner.invoke(main, ["models", "list", "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "nowhere.key cannot be read" in result.output


@pytest.mark.parametrize("garbage", ["{not json", "[]", '{"history": []}', '{"version": 5}',
                                     '{"version": "v", "history": "x"}'])
def test_a_garbled_active_json_is_a_registry_error(tmp_path, garbage):
    reg = Registry(tmp_path)
    reg.save(Toy("a"), {})
    (tmp_path / "active.json").write_text(garbage)
    with pytest.raises(RegistryError, match="active.json is unreadable"):
        reg.load()


def test_training_without_the_private_key_says_the_model_is_unsigned(tmp_path, monkeypatch,
                                                                     capsys):
    from southbound.commands.training import register as _register
    monkeypatch.delenv("SOUTHBOUND_PRIVATE_KEY")
    monkeypatch.setenv("SOUTHBOUND_VAR", str(tmp_path / "var"))  # no var/keys/signing.key
    from models.audit import acting
    _register(Toy("a"), {}, tmp_path / "registry", False, acting("tester"))
    version = Registry(tmp_path / "registry").active_version()
    err = capsys.readouterr().err
    assert f"model {version} is not signed" in err
    assert f"`southbound models sign {version}`" in err
    monkeypatch.undo()
    from scoring import settings
    settings.forget()  # read once per process: a new command reads it again
    _register(Toy("b"), {}, tmp_path / "registry", False, acting("tester"))
    assert "not signed" not in capsys.readouterr().err
