"""A planted model file runs nothing: every path that loads a model refuses it first.

The attack (issue 26, item 1): someone who can write the registry folder, but does not
hold the training side's private key, files a version whose ``model.joblib`` is a
pickle with a ``__reduce__`` payload and whose manifest's SHA-256 was recomputed to
match. Unpickling it would run the payload as the service's user; here the payload
creates a marker file, and each path must leave it absent.
"""
from __future__ import annotations

import hashlib
import json
import shutil

import joblib
import pytest

from models.registry import Registry

PLANTED = "20991231T235959Z-c0ffee00"


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears if it ever runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(root, marker, signature):
    """File the payload as version PLANTED beside the registry's genuine active version;
    ``signature``: "kept" (the genuine one left in place), "removed", or "own key" (the
    attacker's own key pair)."""
    genuine = Registry(root).active_version()
    folder = root / "versions" / PLANTED
    shutil.copytree(root / "versions" / genuine, folder)
    joblib.dump(Payload(str(marker)), folder / "model.joblib")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = PLANTED
    manifest["artifact_sha256"] = hashlib.sha256(
        (folder / "model.joblib").read_bytes()).hexdigest()
    if signature == "removed":
        manifest.pop("signature", None)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if signature == "own key":
        from models.signing import create_key_pair
        attacker = create_key_pair(root.parent / "attacker-keys")[0]
        Registry(root, private_key=attacker).sign(PLANTED)
    return genuine


SIGNATURES = ["kept", "removed", "own key"]


@pytest.fixture(params=SIGNATURES)
def planted(request, tmp_path, trained):
    """(registry root, marker path, genuine version) with the payload planted."""
    root = tmp_path / "registry"
    Registry(root).save(*trained)
    marker = tmp_path / "payload-ran"
    genuine = plant(root, marker, request.param)
    return root, marker, genuine


def test_the_payload_is_live(tmp_path):
    """The marker does appear when the file is unpickled: the tests below can fail."""
    marker = tmp_path / "payload-ran"
    joblib.dump(Payload(str(marker)), tmp_path / "model.joblib")
    joblib.load(tmp_path / "model.joblib")
    assert marker.exists()


def test_the_registry_refuses_it(planted):
    from models.registry import SignatureError
    root, marker, genuine = planted
    reg = Registry(root)
    for attempt in (lambda: reg.load(PLANTED), lambda: reg.promote(PLANTED),
                    lambda: reg.set_shadow(PLANTED)):
        with pytest.raises(SignatureError):
            attempt()
    assert reg.active_version() == genuine
    assert not marker.exists()


def test_the_registry_in_insecure_mode_would_run_it(planted):
    """What the signature check stops (the development mode says so at start)."""
    root, marker, _ = planted
    model, _ = Registry(root, allow_unsigned=True).load(PLANTED)
    model.close()  # the payload's "model" is the file it opened
    assert marker.exists()


def test_every_command_refuses_it(planted, runner, world):
    from southbound.cli import main
    root, marker, genuine = planted
    log = str(world[0])
    commands = [
        ["models", "promote", PLANTED],
        ["models", "shadow", PLANTED],
        ["report", "--model", PLANTED, "--data", log, "--out", str(root.parent / "r.html")],
        ["evaluate", "--model", PLANTED, "--data", log],
        ["score", "--model", PLANTED, "--data", log, "--out", str(root.parent / "s.csv")],
    ]
    for args in commands:
        result = runner.invoke(main, [*args, "--registry", str(root)])
        assert not marker.exists(), args
        assert result.exit_code == 1, (args, result.output)
        assert f"model {PLANTED}" in result.output, (args, result.output)
    result = runner.invoke(main, ["models", "show", PLANTED, "--registry", str(root)])
    assert "signature: REFUSED" in result.output
    # active.json edited by hand: the commands that load the active model refuse it too
    (root / "active.json").write_text(json.dumps({"version": PLANTED, "history": [genuine]}))
    for args in (["score", "--data", log, "--out", str(root.parent / "s.csv")],
                 ["report", "--data", log, "--out", str(root.parent / "r.html")]):
        result = runner.invoke(main, [*args, "--registry", str(root)])
        assert not marker.exists(), args
        assert result.exit_code == 1 and f"model {PLANTED}" in result.output, result.output
    # the way back: rollback to the genuine version loads only that one
    result = runner.invoke(main, ["models", "rollback", "--registry", str(root)])
    assert result.exit_code == 0 and genuine in result.output, result.output
    assert not marker.exists()


@pytest.mark.parametrize("signature", SIGNATURES)
def test_the_api_refuses_it_and_the_model_in_service_scores_on(
        signature, client, auth, registry_path, tmp_path):
    marker = tmp_path / "payload-ran"
    genuine = plant(registry_path, marker, signature)
    analyst = auth["analyst"]
    for path in (f"/v1/models/{PLANTED}/activate", f"/v1/models/{PLANTED}/shadow"):
        answer = client.post(path, headers=analyst)
        assert not marker.exists(), path
        assert answer.status_code == 409, answer.json
        assert answer.json["error"]["field"] == "version"
    answer = client.get(f"/reports/{PLANTED}", headers=analyst)
    assert answer.status_code in (404, 409), answer.json  # 404: no traffic yet
    assert not marker.exists()
    # active.json and shadow.json edited by hand: each worker refuses at its next check
    (registry_path / "active.json").write_text(
        json.dumps({"version": PLANTED, "history": [genuine]}))
    (registry_path / "shadow.json").write_text(json.dumps({"version": PLANTED}))
    crossing = {"crossing_id": "planted-1", "crossed_at": "2025-03-04T11:48:00-06:00",
                "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
                "plate_id": "P1"}
    answer = client.post("/v1/score", json=crossing, headers=auth["officer"])
    assert answer.status_code == 201 and answer.json["model_version"] == genuine, answer.json
    assert client.get("/readyz").status_code == 200
    assert not marker.exists()


def test_a_service_started_on_it_scores_nothing_and_says_why(planted, tmp_path):
    from service import create_app
    root, marker, genuine = planted
    (root / "active.json").write_text(json.dumps({"version": PLANTED, "history": [genuine]}))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
                      "REGISTRY": str(root), "LOG_LEVEL": "ERROR",
                      "REPORT_DIR": str(tmp_path / "reports")})
    ready = app.test_client().get("/readyz")
    assert not marker.exists()
    assert ready.status_code == 503, ready.json
    assert f"model {PLANTED} refused" in ready.json["error"]["message"]
    app.extensions["southbound.store"].engine.dispose()
