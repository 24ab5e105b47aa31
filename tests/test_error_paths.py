"""Errors name no server paths: every registry refusal the API answers (an unknown version,
a missing or garbled file, nothing to roll back to, no model to score with, a report of
an unknown version) says which version and what is wrong, never where the registry lives;
the log keeps the path for the operator.
"""
from __future__ import annotations

import pytest

from models.registry import Registry
from tests.helpers.service import make_app, outbound, tokens_for


def _paths_in(text, *paths):
    return [p for p in paths if p in text]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_registry_refusals_name_the_version_never_the_path(database_url, registry_path,
                                                           tmp_path, trained):
    second = Registry(registry_path).save(*trained)
    (registry_path / "versions" / second / "model.joblib").unlink()
    app = make_app(database_url, registry_path, tmp_path)
    secrets = (str(registry_path), str(registry_path.resolve()), str(tmp_path))
    try:
        client = app.test_client()
        analyst = tokens_for(app)["analyst"]
        answers = {
            "unknown": client.post("/v1/models/20990101T000000Z-ffffffff/activate",
                                   headers=analyst),
            "no artifact": client.post(f"/v1/models/{second}/activate", headers=analyst),
            "no artifact, shadow": client.post(f"/v1/models/{second}/shadow",
                                               headers=analyst),
            "nothing earlier": client.post("/v1/models/rollback", headers=analyst),
            "report of an unknown version": client.get(
                "/reports/20990101T000000Z-ffffffff", headers=analyst),
        }
        (registry_path / "active.json").write_text("{not json")
        answers["garbled active.json"] = client.get("/v1/models", headers=analyst)
        for name, response in answers.items():
            assert response.status_code in (404, 409, 503), (name, response.status_code)
            body = response.get_data(as_text=True)
            assert not _paths_in(body, *secrets), (name, body)
            assert "/" not in response.json["error"]["message"], (name, body)
        assert "20990101T000000Z-ffffffff" in answers["unknown"].json["error"]["message"]
        assert "in the registry" in answers["unknown"].json["error"]["message"]
        refused = answers["no artifact"].json["error"]["message"]
        assert second in refused and "model.joblib" in refused
        assert "active.json" in answers["garbled active.json"].json["error"]["message"]
    finally:
        app.extensions["southbound.store"].engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_model_to_score_with_names_no_path(database_url, tmp_path):
    registry = tmp_path / "registry-secret-place"
    app = make_app(database_url, registry, tmp_path)
    try:
        response = app.test_client().post("/v1/score", json=outbound(),
                                          headers=tokens_for(app)["officer"])
        assert response.status_code == 503 and response.json["error"]["code"] == "no_model"
        body = response.get_data(as_text=True)
        assert "registry-secret-place" not in body and str(tmp_path) not in body
        assert "the registry" in response.json["error"]["message"]
    finally:
        app.extensions["southbound.store"].engine.dispose()


@pytest.mark.parametrize("message, expected", [
    ("no model version 'x' in {root}", "no model version 'x' in the registry"),
    ("{root}/active.json is unreadable: not JSON", "active.json is unreadable: not JSON"),
    ("artifact of V is unreadable: [Errno 2] No such file: '{root}/versions/V/model.joblib'",
     "artifact of V is unreadable: [Errno 2] No such file: 'model.joblib'"),
    ("cannot be served: OSError: /etc/elsewhere/x.so", "cannot be served: OSError: x.so"),
    ('value "23/04" is not a 4-digit port code', 'value "23/04" is not a 4-digit port code'),
], ids=["the-registry", "a-file-in-it", "a-quoted-file", "elsewhere", "no-path"])
def test_without_paths(tmp_path, message, expected):
    from service.errors import without_paths
    root = tmp_path / "reg"
    assert without_paths(message.format(root=root), root) == expected
