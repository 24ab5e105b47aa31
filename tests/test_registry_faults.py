"""Registry faults against the real thing (`southbound serve`, gunicorn, 2 workers).

Each server start costs seconds (a `tokens create` process, two workers loading the
model), so each test starts one server and walks through its faults in turn; an
analyst token does everything (analysts may score too).

- A version whose artifact has flipped bytes: activating it is refused (409) and the
  old model keeps scoring in every worker.
- Signatures (the session's key pair, tests/conftest.py): a version whose artifact was
  replaced and whose manifest's SHA-256 was updated to match (only the signature can
  tell), one signed with another key and one not signed are refused the same way,
  through the API and through active.json; a properly signed one activates.
- The registry turning unreadable while serving (active.json garbled, of the wrong
  shape, naming a missing or a corrupt version, or removed; the versions folder moved
  away): every worker keeps scoring with the model it has, /readyz stays 200, the
  error is logged once per fault (not at every check), and once the registry reads
  again a new activation is picked up.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import time

import joblib

from models.registry import Registry
from tests.helpers.browser import call, serve

CHECK = 0.1  # SOUTHBOUND_MODEL_CHECK_SECONDS of the servers under test
ROLES = ("analyst",)  # analysts may score as officers do

_ids = iter(range(1, 1_000_000))


def _crossing():
    return {"crossing_id": f"rf-{next(_ids)}", "crossed_at": "2025-03-04T11:48:00-06:00",
            "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
            "plate_id": "P1", "registration_age_days": 12}


def served_versions(live, n=12):
    """The model_version of ``n`` fresh scores (spread over both workers); all must be 201."""
    versions = set()
    for _ in range(n):
        status, body = call(live.url + "/v1/score", _crossing(), live.tokens["analyst"])
        assert status == 201, body
        versions.add(body["model_version"])
    return versions


def wait_served(live, version, seconds=20):
    """Poll until every worker scores with ``version`` (each notices on its next check,
    after loading the model); return the versions last seen."""
    deadline = time.monotonic() + seconds
    while (versions := served_versions(live)) != {version} and time.monotonic() < deadline:
        time.sleep(CHECK)
    return versions


def activate(live, version):
    return call(f"{live.url}/v1/models/{version}/activate", {}, live.tokens["analyst"],
                method="POST")


def assert_refused(live, version, message, serving):
    status, body = activate(live, version)
    assert status == 409, body
    assert body["error"]["code"] == "activation_refused"
    assert body["error"]["field"] == "version"
    assert message in body["error"]["message"], body
    assert served_versions(live) == {serving}
    assert call(live.url + "/v1/model", token=live.tokens["analyst"])[1]["version"] == serving


def flip_bytes(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def write_active(registry, text):
    """Replace active.json at once, as a careless hand or a bad deploy would."""
    tmp = registry.root / ".tmp-active"
    tmp.write_text(text)
    os.replace(tmp, registry.root / "active.json")


def log_errors(log):
    """Messages of the 'model not loaded' lines of the server's JSON log."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line["message"].startswith("model not loaded")]


def _other_private_key(folder):
    from models.signing import create_key_pair
    return create_key_pair(folder)[0]


def test_signatures_refuse_what_only_they_can_catch(tmp_path, trained):
    signed = Registry(tmp_path / "registry")
    first = signed.save(*trained)
    tampered = signed.save(*trained)
    folder = signed.versions_dir / tampered
    # another artifact that loads and scores; its SHA-256 written into the manifest
    joblib.dump(trained[0], folder / "model.joblib", compress=1)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifact_sha256"] = hashlib.sha256(
        (folder / "model.joblib").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # without the signature check it would be served
    assert Registry(signed.root, allow_unsigned=True).load(tampered)
    foreign = Registry(signed.root, private_key=_other_private_key(tmp_path / "k")).save(*trained)
    unsigned = Registry(signed.root, private_key=None).save(*trained)
    good = signed.save(*trained)

    with serve(tmp_path, signed.root, roles=ROLES,
               env={"SOUTHBOUND_MODEL_CHECK_SECONDS": str(CHECK)}) as live:
        assert served_versions(live) == {first}
        assert_refused(live, tampered, "fails its signature check", serving=first)
        assert_refused(live, foreign, "signed with another key", serving=first)
        assert_refused(live, unsigned, "is not signed", serving=first)
        # the same versions made active behind the service's back: the workers refuse them
        for version in (tampered, unsigned):
            write_active(signed, json.dumps({"version": version, "history": [first]}))
            time.sleep(3 * CHECK)
            assert served_versions(live) == {first}
        write_active(signed, json.dumps({"version": first, "history": []}))
        status, body = activate(live, good)
        assert status == 200 and body["previous"] == first, body
        # the worker that answered serves it now; the other within its check interval
        # plus the model's load (the promise README makes), not at once
        assert wait_served(live, good) == {good}
    errors = log_errors(live.log)
    assert any("fails its signature check" in e for e in errors), errors
    assert any("is not signed" in e for e in errors), errors


def test_a_corrupt_artifact_or_an_unreadable_registry_never_takes_the_model_away(
        tmp_path, trained):
    registry = Registry(tmp_path / "registry")
    first = registry.save(*trained)
    second = registry.save(*trained)
    corrupt = registry.save(*trained)
    flip_bytes(registry.versions_dir / corrupt / "model.joblib")
    faults = {  # name: (how, what the log must say)
        "garbled": (lambda: write_active(registry, "{not json"), "active.json is unreadable"),
        "wrong shape": (lambda: write_active(registry, json.dumps({"active": first})),
                        "active.json is unreadable: not"),
        "missing version": (lambda: write_active(
            registry, json.dumps({"version": "20990101T000000Z-gone", "history": []})),
            "no model version '20990101T000000Z-gone'"),
        "corrupt version": (lambda: write_active(
            registry, json.dumps({"version": corrupt, "history": [first]})),
            f"artifact of {corrupt} has SHA-256"),
        "removed": (lambda: (registry.root / "active.json").unlink(), "no active model"),
        "versions moved away": (lambda: (
            registry.versions_dir.rename(registry.root / "versions.moved"),
            write_active(registry, json.dumps({"version": second, "history": [first]}))),
            f"no model version '{second}'"),
    }
    with serve(tmp_path, registry.root, roles=ROLES,
               env={"SOUTHBOUND_MODEL_CHECK_SECONDS": str(CHECK)}) as live:
        assert served_versions(live) == {first}
        # (a) activating a version whose artifact has flipped bytes
        assert_refused(live, corrupt, "SHA-256", serving=first)
        assert registry.active_version() == first
        status, listing = call(live.url + "/v1/models", token=live.tokens["analyst"])
        assert status == 200 and listing["active"] == first

        # (c) the registry turns unreadable under the workers
        for name, (fault, message) in faults.items():
            fault()
            time.sleep(5 * CHECK)  # several checks in every worker
            assert served_versions(live, 16) == {first}, name
            status, ready = call(live.url + "/readyz")
            assert status == 200 and ready["model_version"] == first, (name, ready)
            time.sleep(5 * CHECK)
            assert served_versions(live, 16) == {first}, name
            logged = [e for e in log_errors(live.log) if message in e]
            # each worker logs a fault once, however many checks it makes meanwhile
            assert 1 <= len(logged) <= 2, (name, logged)
            if name == "garbled":
                status, body = call(live.url + "/v1/models", token=live.tokens["analyst"])
                assert status == 503 and body["error"]["code"] == "registry_unavailable"

        # the registry reads again: the next activation reaches every worker
        (registry.root / "versions.moved").rename(registry.versions_dir)
        registry.promote(second)
        assert wait_served(live, second) == {second}
        status, ready = call(live.url + "/readyz")
        assert status == 200 and ready["model_version"] == second


def test_a_worker_sees_an_activation_that_keeps_the_size_and_the_timestamp(
        tmp_path, trained):
    """active.json rewritten in place with a same-length version, its mtime put back:
    the holder compares bytes, so it still notices (an (mtime, size) stamp did not)."""
    from scoring.policy import PolicyConfig
    from service.holder import ModelHolder

    registry = Registry(tmp_path / "registry")
    registry.save(*trained)
    # ids are the saving second plus the hash, "-2", "-3"... within one second; the second
    # may tick between saves, so of three ids (two possible lengths) take two of one length
    saved = [registry.save(*trained) for _ in range(3)]
    first, second = next((a, b) for a, b in itertools.combinations(saved, 2)
                         if len(a) == len(b))
    registry.promote(first)
    holder = ModelHolder(registry.root, PolicyConfig(), window=100, check_seconds=0)
    holder.load_active()
    assert holder.current().version == first
    path = registry.root / "active.json"
    before = os.stat(path)
    path.write_text(path.read_text().replace(first, second))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert holder.current().version == second


def test_the_app_reads_the_public_key_and_the_insecure_mode_from_its_settings(
        tmp_path, trained):
    """In-process: PUBLIC_KEY reaches the holder; /readyz says why nothing verified; the
    insecure development mode loads an unsigned model and says so at start."""
    from models.signing import create_key_pair
    from service import create_app
    from scoring.settings import SettingError

    unsigned = Registry(tmp_path / "unsigned", private_key=None)
    unsigned.save(*trained)
    signed = Registry(tmp_path / "signed")
    version = signed.save(*trained)
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}", "LOG_LEVEL": "ERROR"}
    app = create_app(dict(config, REGISTRY=str(signed.root)))
    assert app.test_client().get("/readyz").json["model_version"] == version
    other = create_key_pair(tmp_path / "other")[1]
    app = create_app(dict(config, REGISTRY=str(signed.root), PUBLIC_KEY=str(other)))
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503, ready.json
    assert ready.json["error"]["message"] == (
        f"not ready: no model to score with (model {version} refused: signed with another "
        "key)")
    assert str(tmp_path) not in ready.get_data(as_text=True)
    app = create_app(dict(config, REGISTRY=str(unsigned.root)))
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and "refused: not signed" in ready.json["error"]["message"]
    assert "is not signed" in app.extensions["southbound.models"].error  # logged, in full
    import logging
    said = []
    keep = logging.Handler()
    keep.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("southbound.service").addHandler(keep)
    try:
        app = create_app(dict(config, REGISTRY=str(unsigned.root), LOG_LEVEL="WARNING",
                              INSECURE_UNSIGNED_MODELS=True))
    finally:
        logging.getLogger("southbound.service").removeHandler(keep)
    assert app.test_client().get("/readyz").status_code == 200
    assert any("INSECURE development mode" in line for line in said), said
