"""A challenger in shadow: scored beside the model in service, stored apart, never acted on.

Through the API (``POST``/``DELETE /v1/models/<v>/shadow``) and the command line
(``southbound models shadow``), on SQLite and PostgreSQL: every crossing scored while a
challenger is in shadow has its shadow score, the officer's answer is the one the
service gives without a shadow, officers never see it, a broken challenger is dropped
without failing a score, and another worker sharing the registry picks the setting up.
"""
from __future__ import annotations

import json
import logging
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from models.registry import Registry, RegistryError
from scoring.policy import PolicyConfig, ScoreQuantiles
from service.store import audit, scores, shadow_scores
from tests.helpers.service import assert_error, make_app, outbound, rows, tokens_for


@pytest.fixture
def registry(registry_path, tmp_path, challenger_model):
    """This test's registry with a challenger saved (not active): (root, v)."""
    return registry_path, Registry(registry_path).save(*challenger_model)


def crossings_to_score(n=12):
    """Outbound crossings of a few plates at two ports, an hour apart (history builds)."""
    out = []
    for i in range(n):
        out.append(outbound(i, plate_id=f"P{i % 4}", port_code=("2304", "2506")[i % 2],
                            crossed_at=f"2025-03-04T{8 + i:02d}:10:00-06:00",
                            body_type=("pickup", "sedan", "suv")[i % 3],
                            registration_age_days=10 + 40 * i))
    return out


def test_every_crossing_has_its_shadow_score_and_answers_are_unchanged(
        database_url, registry, tmp_path, challenger_model):
    root, challenger = registry
    app = make_app(database_url, root, tmp_path)
    plain = make_app(f"sqlite:///{tmp_path / 'plain.db'}", root, tmp_path)
    auth, plain_auth = tokens_for(app), tokens_for(plain)
    client, plain_client = app.test_client(), plain.test_client()
    try:
        done = client.post(f"/v1/models/{challenger}/shadow", headers=auth["analyst"])
        assert done.status_code == 200, done.json
        assert done.json["shadow"] == challenger and done.json["previous"] is None
        bodies = crossings_to_score()
        answers = [client.post("/v1/score", json=b, headers=auth["officer"]) for b in bodies]
        alone = [plain_client.post("/v1/score", json=b, headers=plain_auth["officer"])
                 for b in bodies]
        assert [a.status_code for a in answers] == [201] * len(bodies)
        # the officer's answer, decision and reasons are the ones given without a shadow
        assert [a.json for a in answers] == [a.json for a in alone]
        assert rows(app, scores) and all(r["model_version"] != challenger
                                         for r in rows(app, scores))
        shadow = {r["crossing_id"]: r for r in rows(app, shadow_scores)}
        assert sorted(shadow) == sorted(b["crossing_id"] for b in bodies)
        model, manifest = challenger_model
        quantiles, config = ScoreQuantiles.from_manifest(manifest), PolicyConfig()
        for score in rows(app, scores):
            row = shadow[score["crossing_id"]]
            assert row["model_version"] == challenger
            # the challenger's own score of the stored features, offline
            features = pd.DataFrame([{k: (math.nan if v is None else v) for k, v in
                                      json.loads(score["features"]).items()}])
            raw, _ = model.explain(features)
            assert row["raw_score"] == pytest.approx(raw[0], abs=1e-9)
            assert row["risk_score"] == pytest.approx(model.calibrate(raw)[0], abs=1e-12)
            threshold = quantiles.threshold(row["port_code"], config.capacity_of(row["port_code"]))
            assert row["threshold"] == pytest.approx(threshold)
            assert row["would_refer"] == (row["risk_score"] >= threshold)
        assert len({r["risk_score"] for r in shadow.values()}) > 1
        assert any(r["risk_score"] != s["risk_score"] for s in rows(app, scores)
                   for r in [shadow[s["crossing_id"]]])  # another model, other scores
        # analysts see it on the crossing; officers never do
        seen = client.get("/v1/crossings/o3", headers=auth["analyst"]).json
        assert seen["shadow"]["model_version"] == challenger
        assert seen["shadow"]["risk_score"] == shadow["o3"]["risk_score"]
        assert isinstance(seen["shadow"]["would_refer"], bool)
        officer = client.get("/v1/crossings/o3", headers=auth["officer"]).json
        assert "shadow" not in officer and challenger not in json.dumps(officer)
        lane = client.get("/v1/crossings?port_code=2304", headers=auth["officer"]).json
        assert challenger not in json.dumps(lane)
        metrics = client.get("/metrics").get_data(as_text=True)
        assert f'southbound_shadow_scores_total{{model_version="{challenger}"}} 12.0' in metrics
    finally:
        for a in (app, plain):
            a.extensions["southbound.store"].engine.dispose()


def test_setting_and_ending_a_shadow_is_audited_and_refused_where_it_must_be(
        database_url, registry, tmp_path):
    root, challenger = registry
    app = make_app(database_url, root, tmp_path)
    auth, client = tokens_for(app), app.test_client()
    try:
        active = client.get("/v1/model", headers=auth["officer"]).json["version"]
        assert_error(client.post(f"/v1/models/{challenger}/shadow", headers=auth["officer"]),
                     403, "forbidden")
        assert_error(client.post(f"/v1/models/{active}/shadow", headers=auth["analyst"]),
                     409, "shadow_refused", "version")
        assert_error(client.post("/v1/models/nope/shadow", headers=auth["analyst"]),
                     404, "shadow_refused", "version")
        assert_error(client.delete(f"/v1/models/{challenger}/shadow", headers=auth["analyst"]),
                     404, "not_found", "version")
        assert client.post(f"/v1/models/{challenger}/shadow",
                           headers=auth["analyst"]).status_code == 200
        listing = client.get("/v1/models", headers=auth["analyst"]).json
        assert listing["shadow"] == challenger and listing["active"] == active
        assert [v["version"] for v in listing["versions"] if v["shadow"]] == [challenger]
        ended = client.delete(f"/v1/models/{challenger}/shadow", headers=auth["analyst"])
        assert ended.status_code == 200 and ended.json == {"shadow": None,
                                                           "previous": challenger}
        assert client.get("/v1/models", headers=auth["analyst"]).json["shadow"] is None
        client.post("/v1/score", json=outbound(1), headers=auth["officer"])
        assert rows(app, shadow_scores) == []  # ended: nothing more in shadow
        trail = [(a["action"], a["target"]) for a in rows(app, audit)
                 if a["action"].startswith("shadow")]
        assert trail == [("shadow_refused", active), ("shadow_refused", "nope"),
                         ("shadow", challenger), ("shadow_end", challenger)]
        assert all(a["actor"] == "analyst-test" for a in rows(app, audit)
                   if a["action"].startswith("shadow"))
        # the model in service never changed; the registry's log says who set what
        assert client.get("/v1/model", headers=auth["officer"]).json["version"] == active
        events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
        kinds = [(e.get("kind"), e["version"]) for e in events if e.get("kind")]
        assert kinds == [("shadow", challenger), ("shadow", None)]
        assert Registry(root).last_event()["version"] == active  # a promotion, not a shadow
    finally:
        app.extensions["southbound.store"].engine.dispose()


def test_a_broken_challenger_is_dropped_and_scoring_goes_on(database_url, registry, tmp_path,
                                                            caplog):
    root, challenger = registry
    app = make_app(database_url, root, tmp_path)
    auth, client = tokens_for(app), app.test_client()
    holder = app.extensions["southbound.models"]
    try:
        assert client.post(f"/v1/models/{challenger}/shadow",
                           headers=auth["analyst"]).status_code == 200
        assert client.post("/v1/score", json=outbound(1), headers=auth["officer"]).status_code == 201

        def broken(row):
            raise ValueError("a tree went missing")
        holder.challenger.model.raw_row = broken
        caplog.set_level(logging.ERROR, logger="southbound")
        answer = client.post("/v1/score", json=outbound(2), headers=auth["officer"])
        assert answer.status_code == 201 and answer.json["model_version"] != challenger
        assert holder.challenger is None and "a tree went missing" in holder.shadow_error
        assert any("challenger dropped from shadow" in r.getMessage() for r in caplog.records)
        assert client.post("/v1/score", json=outbound(3), headers=auth["officer"]).status_code == 201
        assert sorted(r["crossing_id"] for r in rows(app, shadow_scores)) == ["o1"]
        assert {r["crossing_id"] for r in rows(app, scores)} == {"o1", "o2", "o3"}
        metrics = client.get("/metrics").get_data(as_text=True)
        assert f'southbound_shadow_errors_total{{model_version="{challenger}"}} 1.0' in metrics
        # an artifact that fails its check is never loaded: dropped, logged, scores go on
        artifact = root / "versions" / challenger / "model.joblib"
        artifact.write_bytes(artifact.read_bytes()[:-10])
        (root / "shadow.json").write_text(json.dumps({"version": challenger}) + "\n ")
        assert client.post("/v1/score", json=outbound(4), headers=auth["officer"]).status_code == 201
        assert holder.challenger is None and "SHA-256" in holder.shadow_error
        (root / "shadow.json").write_text("{not json")
        assert client.post("/v1/score", json=outbound(5), headers=auth["officer"]).status_code == 201
        assert holder.challenger is None and "unreadable" in holder.shadow_error
        assert sorted(r["crossing_id"] for r in rows(app, shadow_scores)) == ["o1"]
    finally:
        app.extensions["southbound.store"].engine.dispose()


def test_another_worker_on_the_registry_picks_the_shadow_up_at_its_next_check(
        database_url, registry, tmp_path):
    root, challenger = registry
    first = make_app(database_url, root, tmp_path)
    other = make_app(database_url, root, tmp_path)
    auth = tokens_for(first)
    try:
        assert other.test_client().post("/v1/score", json=outbound(1),
                                        headers=auth["officer"]).status_code == 201
        assert first.test_client().post(f"/v1/models/{challenger}/shadow",
                                        headers=auth["analyst"]).status_code == 200
        assert other.test_client().post("/v1/score", json=outbound(2),
                                        headers=auth["officer"]).status_code == 201
        assert [r["crossing_id"] for r in rows(first, shadow_scores)] == ["o2"]
        assert first.test_client().delete(f"/v1/models/{challenger}/shadow",
                                          headers=auth["analyst"]).status_code == 200
        other.test_client().post("/v1/score", json=outbound(3), headers=auth["officer"])
        assert [r["crossing_id"] for r in rows(first, shadow_scores)] == ["o2"]
    finally:
        for a in (first, other):
            a.extensions["southbound.store"].engine.dispose()


def test_promoting_the_challenger_ends_its_shadow(registry):
    root, challenger = registry
    reg = Registry(root)
    active = reg.active_version()
    with pytest.raises(RegistryError, match="is the active model"):
        reg.set_shadow(active)
    assert reg.set_shadow(challenger, actor="ana") is None
    assert reg.shadow_version() == challenger
    reg.promote(challenger, actor="ana")
    assert reg.active_version() == challenger and reg.shadow_version() is None
    assert reg.last_event()["version"] == challenger
    assert reg.set_shadow(active) is None  # the old champion may shadow the new one
    assert reg.end_shadow() == active and reg.shadow_version() is None


def test_the_command_line_sets_shows_and_ends_a_shadow_audited(runner, registry, tmp_path,
                                                               monkeypatch):
    from southbound.cli import main
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", url)
    root, challenger = registry
    where = ["--registry", str(root)]
    result = runner.invoke(main, ["models", "shadow", *where])
    assert result.exit_code == 0 and result.output.strip() == "no model in shadow"
    result = runner.invoke(main, ["models", "shadow", challenger, *where, "--actor", "bo"])
    assert result.exit_code == 0, result.output
    assert f"model {challenger} is in shadow beside" in result.output
    result = runner.invoke(main, ["models", "shadow", *where])
    assert result.output.strip() == f"in shadow: {challenger}"
    listing = runner.invoke(main, ["models", "list", *where]).output.splitlines()
    assert [line.split()[1] for line in listing if line.startswith("s ")] == [challenger]
    active = Registry(root).active_version()
    result = runner.invoke(main, ["models", "shadow", active, *where])
    assert result.exit_code == 1 and "is the active model" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["models", "shadow", "--end", *where, "--actor", "bo"])
    assert result.exit_code == 0 and f"model {challenger} is no longer in shadow" in result.output
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        trail = [dict(r._mapping) for r in conn.execute(sa.select(audit).order_by(audit.c.id))]
    engine.dispose()
    from models.files import login_name
    assert [(a["action"], a["target"], a["actor"], a["model_version"]) for a in trail] == [
        ("shadow", challenger, login_name(), active),
        ("shadow_end", challenger, login_name(), active)]
    assert [json.loads(a["detail"])["on_behalf_of"] for a in trail] == ["bo", "bo"]


def test_the_registry_listing_carries_what_the_analysts_console_shows(
        database_url, registry, tmp_path):
    """GET /v1/models: each version's training window and validation figures at 1%, its
    kept comparison and the evidence for promoting it, and the version a rollback serves."""
    root, challenger = registry
    app = make_app(database_url, root, tmp_path)
    auth, client = tokens_for(app), app.test_client()
    try:
        active = client.get("/v1/model", headers=auth["officer"]).json["version"]
        listing = client.get("/v1/models", headers=auth["analyst"]).json
        assert listing["rollback_to"] is None
        view = {v["version"]: v for v in listing["versions"]}
        manifest = Registry(root).manifest(challenger)
        at1 = next(b for b in manifest["metrics"]["validation"]["budgets"]
                   if b["budget"] == 0.01)
        figures = view[challenger]["validation"]
        assert figures["recall"] == at1["recall"] and figures["hit_rate"] == at1["hit_rate"]
        assert figures["seizures"] == manifest["data"]["split"]["validate"]["seizures"]
        assert figures["unstable"] == (figures["seizures"] < 30)
        assert view[challenger]["windows"]["start"] == manifest["data"]["windows"]["start"]
        assert view[challenger]["comparison"] is None
        assert view[challenger]["evidence_found"] is False
        assert view[challenger]["evidence"].startswith(f"no comparison of {challenger} "
                                                       f"against {active} is kept")
        Registry(root).save_comparison(challenger, {
            "champion": active, "challenger": challenger, "verdict": "no difference shown yet",
            "labels": {"crossings": 1234, "labelled_seizures": 7}})
        view = {v["version"]: v for v in client.get(
            "/v1/models", headers=auth["analyst"]).json["versions"]}
        kept = view[challenger]["comparison"]
        assert {k: kept[k] for k in ("champion", "verdict", "crossings", "labelled_seizures")} \
            == {"champion": active, "verdict": "no difference shown yet", "crossings": 1234,
                "labelled_seizures": 7}
        assert view[challenger]["evidence_found"] is True
        assert "1,234 crossings scored by both, 7 seizures" in view[challenger]["evidence"]
        assert client.post(f"/v1/models/{challenger}/activate",
                           headers=auth["analyst"]).status_code == 200
        assert client.get("/v1/models", headers=auth["analyst"]).json["rollback_to"] == active
    finally:
        app.extensions["southbound.store"].engine.dispose()
