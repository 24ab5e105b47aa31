"""API v1 on SQLite and PostgreSQL: every endpoint, roles, errors, durability, lifecycle."""
import json
import re

import pytest

from service.store import audit, crossings, scores, tokens
from tests.helpers.service import assert_error, inbound, outbound, rows, soon


def test_score_answers_and_stores_before_replying(app, client, auth):
    response = client.post("/v1/score", json=outbound(), headers=auth["officer"])
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"crossing_id", "risk_score", "risk_band", "refer", "reasons",
                         "model_version"}
    assert 0 < body["risk_score"] < 1
    assert 1 <= len(body["reasons"]) <= 3 and all(r["text"] for r in body["reasons"])
    stored = rows(app, crossings, crossing_id="o1")[0]
    assert stored["plate_id"] == "P1" and stored["referral"] in ("none", "model", "random")
    assert 0 < stored["selection_probability"] <= 1
    score = rows(app, scores, crossing_id="o1")[0]
    assert score["risk_score"] == body["risk_score"]
    trail = rows(app, audit, target="o1")
    assert [a["action"] for a in trail] == ["score"]
    assert trail[0]["actor"] == "officer-test" and trail[0]["model_version"] == body["model_version"]
    assert trail[0]["policy_version"].startswith("p-")


def test_history_reaches_the_next_score(app, client, auth):
    assert client.post("/v1/crossings", json=inbound(), headers=auth["officer"]).status_code == 201
    assert client.post("/v1/score", json=outbound(), headers=auth["officer"]).status_code == 201
    shown = client.get("/v1/crossings/o1", headers=auth["analyst"]).json
    texts = [r["text"] for r in shown["score"]["reasons"]]  # the model's, as analysts see them
    features = shown["score"]["features"]
    assert features["plate_hours_since_inbound"] == pytest.approx(1.8)
    assert features["plate_inbound_other_port"] == 1.0
    assert features["plate_last_inbound_port"] == "2402"
    assert any("after entering at El Paso" in t for t in texts) or len(texts) == 3


def test_repeated_crossing_id_is_idempotent_and_a_changed_one_conflicts(app, client, auth):
    first = client.post("/v1/score", json=outbound(), headers=auth["officer"])
    again = client.post("/v1/score", json=outbound(), headers=auth["officer"])
    assert again.status_code == 200 and again.json == first.json
    assert len(rows(app, scores)) == 1 and len(rows(app, audit, action="score")) == 1
    assert_error(client.post("/v1/score", json=outbound(port_code="2506"),
                             headers=auth["officer"]), 409, "conflict", "crossing_id")
    client.post("/v1/crossings", json=inbound(), headers=auth["officer"])
    assert client.post("/v1/crossings", json=inbound(), headers=auth["officer"]).status_code == 200
    # an inbound crossing's id never keeps an outbound one out (tests/test_crossing_ids.py)
    assert client.post("/v1/score", json=outbound(crossing_id="i1"),
                       headers=auth["officer"]).status_code == 201


@pytest.mark.parametrize("change, field", [
    ({"port_code": "23O4"}, "port_code"),
    ({"plate_id": None}, "plate_id"),
    ({"crossed_at": "2025-03-04 11:48"}, "crossed_at"),
    ({"occupants": 0}, "occupants"),
    ({"occupants": "two"}, "occupants"),
    ({"vehicle_class": "tank"}, "vehicle_class"),
    ({"direction": "inbound"}, "direction"),
    ({"seizure": True}, "seizure"),
    ({"selection_probability": 0.5}, "selection_probability"),
], ids=lambda v: str(v)[:30])
def test_bad_crossing_is_a_400_naming_the_field(app, client, auth, change, field):
    response = client.post("/v1/score", json=outbound(**change), headers=auth["officer"])
    assert_error(response, 400, "invalid_value", field)
    assert rows(app, crossings) == []


def test_bodies_that_are_not_crossings(client, auth):
    h = auth["officer"]
    assert_error(client.post("/v1/score", data="{", headers=h, content_type="application/json"),
                 400, "invalid_json")
    assert_error(client.post("/v1/score", data="x=1", headers=h), 415, "unsupported_media_type")
    assert_error(client.post("/v1/score", json=[1, 2], headers=h), 400, "invalid_body")
    huge = outbound(vehicle_make="x" * 300_000)
    assert_error(client.post("/v1/score", json=huge, headers=h), 413, "payload_too_large")


@pytest.mark.parametrize("path, role", [("/v1/score", "officer"), ("/v1/score/batch", "officer"),
                                        ("/v1/crossings", "officer"),
                                        ("/v1/crossings/o1/outcome", "officer"),
                                        ("/v1/lookouts", "analyst")])
def test_a_body_nested_too_deeply_is_a_400_not_a_500(client, auth, path, role):
    """50,000 nested arrays exhaust the JSON parser's recursion (a RecursionError, which
    Flask's silent parsing does not catch): the answer is the invalid_json 400."""
    response = client.post(path, data="[" * 50_000 + "]" * 50_000, headers=auth[role],
                           content_type="application/json")
    assert_error(response, 400, "invalid_json")


def test_missing_optional_fields_never_stop_a_score(client, auth):
    bare = {k: outbound()[k] for k in ("crossing_id", "crossed_at", "direction", "port_code",
                                       "vehicle_class", "plate_id")}
    response = client.post("/v1/score", json=bare, headers=auth["officer"])
    assert response.status_code == 201
    assert 0 < response.json["risk_score"] < 1


def test_unknown_fields_are_scored_and_named_back(client, auth):
    response = client.post("/v1/score", json=outbound(lane=3), headers=auth["officer"])
    assert response.status_code == 201
    assert response.json["ignored_fields"] == ["lane"]


def test_outcome_is_stored_and_shown(app, client, auth):
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    response = client.post("/v1/crossings/o1/outcome", headers=auth["officer"],
                           json={"inspected": True, "seizure": True, "firearms_seized": 3,
                                 "rounds_seized": 500})
    assert response.status_code == 201
    shown = client.get("/v1/crossings/o1", headers=auth["officer"]).json
    assert shown["outcome"]["seizure"] is True and shown["outcome"]["firearms_seized"] == 3
    assert shown["outcome"]["currency_seized_usd"] == 0
    assert "referral_source" not in shown["score"]            # officers do not see why
    assert "referral" not in shown["crossing"]
    stored = rows(app, crossings, crossing_id="o1")[0]
    assert stored["inspected"] == 1 and stored["seizure"] == 1
    assert [a["action"] for a in rows(app, audit, target="o1")] == ["score", "outcome",
                                                                    "crossing_read"]
    analyst = client.get("/v1/crossings/o1", headers=auth["analyst"]).json
    assert analyst["score"]["referral_source"] in ("none", "model", "random")
    assert len(analyst["outcomes"]) == 1


@pytest.mark.parametrize("crossing_id", ["a/b", "2025/03/04-17", "ends/outcome"])
def test_an_id_holding_a_slash_can_be_looked_up_and_given_an_outcome(client, auth,
                                                                     crossing_id):
    """The contract allows '/' in a crossing_id; a client sends it percent-encoded, and
    the routes find it (the seizure of such a crossing was once impossible to record)."""
    from urllib.parse import quote
    assert client.post("/v1/score", json=outbound(crossing_id=crossing_id),
                       headers=auth["officer"]).status_code == 201
    path = "/v1/crossings/" + quote(crossing_id, safe="")
    recorded = client.post(path + "/outcome", headers=auth["officer"],
                           json={"inspected": True, "seizure": True, "firearms_seized": 2})
    assert recorded.status_code == 201, recorded.json
    shown = client.get(path, headers=auth["officer"])
    assert shown.status_code == 200 and shown.json["crossing"]["crossing_id"] == crossing_id
    assert shown.json["outcome"]["firearms_seized"] == 2


@pytest.mark.parametrize("body, field", [
    ({}, "inspected"),
    ({"inspected": True}, "seizure"),
    ({"inspected": "yes"}, "inspected"),
    ({"inspected": False, "seizure": True}, "seizure"),
    ({"inspected": True, "seizure": False, "firearms_seized": -1}, "firearms_seized"),
], ids=lambda v: str(v)[:30])
def test_bad_outcome_is_a_400_naming_the_field(client, auth, body, field):
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    response = client.post("/v1/crossings/o1/outcome", json=body, headers=auth["officer"])
    assert_error(response, 400, "invalid_value", field)


def test_outcome_for_unknown_or_inbound_crossing(client, auth):
    assert_error(client.post("/v1/crossings/nope/outcome", json={"inspected": False},
                             headers=auth["officer"]), 404, "not_found", "crossing_id")
    client.post("/v1/crossings", json=inbound(), headers=auth["officer"])
    assert_error(client.post("/v1/crossings/i1/outcome", json={"inspected": False},
                             headers=auth["officer"]), 409, "conflict", "crossing_id")
    assert_error(client.get("/v1/crossings/nope", headers=auth["officer"]),
                 404, "not_found", "crossing_id")


def test_self_initiated_inspection_is_an_officer_referral_of_unknown_probability(app, client,
                                                                                 auth):
    answer = client.post("/v1/score", json=outbound(), headers=auth["officer"]).json
    client.post("/v1/crossings/o1/outcome", json={"inspected": True, "seizure": False},
                headers=auth["officer"])
    stored = rows(app, crossings, crossing_id="o1")[0]
    if not answer["refer"]:
        assert stored["referral"] == "officer" and stored["selection_probability"] is None


def test_tokens_and_roles(app, client, auth):
    assert_error(client.post("/v1/score", json=outbound()), 401, "unauthorized", "Authorization")
    assert_error(client.post("/v1/score", json=outbound(),
                             headers={"Authorization": "Bearer sb_wrong"}),
                 401, "unauthorized", "Authorization")
    assert_error(client.get("/v1/models", headers=auth["officer"]), 403, "forbidden")
    assert_error(client.get("/v1/lookouts", headers=auth["officer"]), 403, "forbidden")
    assert client.get("/v1/models", headers=auth["analyst"]).status_code == 200
    assert client.get("/v1/models", headers=auth["admin"]).status_code == 200
    stored = rows(app, tokens)
    assert len(stored) == 3 and all(len(t["token_hash"]) == 64 for t in stored)
    secret = auth["officer"]["Authorization"].split()[1]
    assert all(secret not in json.dumps(t) for t in stored)


def test_metrics_count_referrals_by_port_and_publish_no_source(client, auth):
    """/metrics takes no token: a lookout firing at a port (or a random pick) must not
    appear there as it happens."""
    made = client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": "PWATCH9", "reason": "metrics test", "expires_at": soon()})
    assert made.status_code == 201, made.json
    answer = client.post("/v1/score", json=outbound(9, plate_id="PWATCH9"),
                         headers=auth["officer"])
    assert answer.status_code == 201 and answer.json["refer"] is True
    text = client.get("/metrics").get_data(as_text=True)
    counted = [line for line in text.splitlines()
               if line.startswith("southbound_referrals_total{")]
    assert counted and all('port="2304"' in line for line in counted)
    assert not any("source=" in line for line in text.splitlines())
    assert not any('"lookout"' in line for line in text.splitlines())


def test_lookout_always_refers_and_can_be_removed(app, client, auth):
    h = auth["analyst"]
    created = client.post("/v1/lookouts", headers=h, json={
        "plate_id": "P9", "reason": "tip from ATF", "expires_at": soon()})
    assert created.status_code == 201
    listed = client.get("/v1/lookouts", headers=h).json["lookouts"]
    assert [item["plate_id"] for item in listed] == ["P9"]
    answer = client.post("/v1/score", json=outbound(plate_id="P9", registration_age_days=3000,
                                                    body_type="sedan"),
                         headers=auth["officer"]).json
    assert answer["refer"] is True
    score = rows(app, scores, crossing_id="o1")[0]
    assert score["referral_source"] == "lookout" and score["selection_probability"] == 1.0
    stored = rows(app, crossings, crossing_id="o1")[0]   # the contract's own value
    assert stored["referral"] == "lookout" and stored["selection_probability"] == 1.0
    assert client.delete(f"/v1/lookouts/{created.json['id']}", headers=h).status_code == 204
    assert client.get("/v1/lookouts", headers=h).json["lookouts"] == []
    assert_error(client.delete(f"/v1/lookouts/{created.json['id']}", headers=h),
                 404, "not_found", "lookout_id")
    actions = [a["action"] for a in rows(app, audit)]
    assert "lookout_add" in actions and "lookout_delete" in actions


@pytest.mark.parametrize("body, field", [
    ({"reason": "x", "expires_at": soon()}, "plate_id"),
    ({"plate_id": "P", "expires_at": soon()}, "reason"),
    ({"plate_id": "P", "reason": "x", "expires_at": "tomorrow"}, "expires_at"),
    ({"plate_id": "P", "reason": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"plate_id": "P", "reason": "x", "expires_at": "2199-01-01T00:00:00Z"}, "expires_at"),
    ({"plate_id": "P", "reason": "x", "expires_at": soon(366)}, "expires_at"),
    ({"plate_id": "P", "reason": "x" * 501, "expires_at": soon()}, "reason"),
    ({"plate_id": "P", "reason": "x" * 1_000_000, "expires_at": soon()}, "reason"),
], ids=["no-plate", "no-reason", "not-a-time", "past", "year-2199", "366-days",
        "reason-501", "reason-1MB"])
def test_bad_lookout_is_a_400(app, client, auth, body, field):
    app.config["MAX_CONTENT_LENGTH"] = 2_000_000
    assert_error(client.post("/v1/lookouts", json=body, headers=auth["analyst"]),
                 400, "invalid_value", field)


def test_a_lookout_may_last_a_year_with_a_reason_of_500_characters(client, auth):
    body = {"plate_id": "P", "reason": "x" * 500, "expires_at": soon(364)}
    assert client.post("/v1/lookouts", json=body, headers=auth["analyst"]).status_code == 201


def test_lookouts_are_listed_a_page_at_a_time(client, auth):
    h = auth["analyst"]
    made = [client.post("/v1/lookouts", headers=h, json={
        "plate_id": f"P{i}", "reason": "tip", "expires_at": soon()}).json["id"]
        for i in range(7)]
    first = client.get("/v1/lookouts?limit=3", headers=h).json
    assert [x["id"] for x in first["lookouts"]] == made[::-1][:3]
    second = client.get(f"/v1/lookouts?limit=3&after={first['next']}", headers=h).json
    assert [x["id"] for x in second["lookouts"]] == made[::-1][3:6]
    last = client.get(f"/v1/lookouts?limit=3&after={second['next']}", headers=h).json
    assert [x["id"] for x in last["lookouts"]] == made[:1] and last["next"] is None
    whole = client.get("/v1/lookouts", headers=h).json         # default page: 100
    assert len(whole["lookouts"]) == 7 and whole["next"] is None
    for query in ("limit=0", "limit=501", "limit=x", "limit=1_0", "after=0", "after=-1",
                  "after=99999999999"):
        field = query.split("=")[0]
        assert_error(client.get(f"/v1/lookouts?{query}", headers=h), 400, "invalid_value",
                     field)


def test_batch_scores_in_time_order_and_names_the_bad_item(client, auth):
    h = auth["officer"]
    later = outbound(1, crossed_at="2025-03-05T12:48:00-06:00")
    earlier = outbound(2, crossed_at="2025-03-04T11:48:00-06:00")
    response = client.post("/v1/score/batch", json={"crossings": [later, earlier]}, headers=h)
    assert response.status_code == 200
    assert [r["crossing_id"] for r in response.json["results"]] == ["o1", "o2"]
    shown = client.get("/v1/crossings/o1", headers=auth["analyst"]).json
    assert shown["score"]["features"]["plate_out_24h"] == 0.0
    assert shown["score"]["features"]["plate_out_7d"] == 1.0     # o2 came first
    bad = client.post("/v1/score/batch", headers=h,
                      json={"crossings": [outbound(3), outbound(4, port_code="x")]})
    assert_error(bad, 400, "invalid_value", "crossings[1].port_code")
    assert_error(client.post("/v1/score/batch", json={"crossings": []}, headers=h),
                 400, "invalid_value", "crossings")
    too_many = {"crossings": [outbound(i) for i in range(501)]}
    response = client.post("/v1/score/batch", json=too_many, headers=h)
    assert response.status_code == 413


def test_model_activation_swaps_and_a_bad_artifact_is_refused(app, client, auth, trained,
                                                              tmp_path):
    from models.registry import Registry
    registry = Registry(app.config["REGISTRY"])
    first = client.get("/v1/model", headers=auth["officer"]).json["version"]
    second = registry.save(*trained)
    broken = registry.save(*trained)
    try:
        artifact = registry.versions_dir / broken / "model.joblib"
        artifact.write_bytes(artifact.read_bytes()[:-10])
        assert_error(client.post(f"/v1/models/{second}/activate", headers=auth["officer"]),
                     403, "forbidden")
        refused = client.post(f"/v1/models/{broken}/activate", headers=auth["analyst"])
        assert_error(refused, 409, "activation_refused", "version")
        assert client.get("/v1/model", headers=auth["officer"]).json["version"] == first
        assert client.post("/v1/score", json=outbound(), headers=auth["officer"]).status_code == 201
        done = client.post(f"/v1/models/{second}/activate", headers=auth["analyst"])
        assert done.status_code == 200 and done.json["previous"] == first
        assert client.get("/v1/model", headers=auth["officer"]).json["version"] == second
        answer = client.post("/v1/score", json=outbound(2), headers=auth["officer"]).json
        assert answer["model_version"] == second
        assert_error(client.post("/v1/models/nope/activate", headers=auth["analyst"]),
                     404, "activation_refused", "version")
        actions = [a["action"] for a in rows(app, audit)]
        assert "activate_refused" in actions and "activate" in actions
    finally:
        registry.promote(first)


def test_health_readiness_metrics(client, auth):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["model_version"]
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    text = client.get("/metrics").data.decode()
    assert 'southbound_scores_total{band=' in text or "southbound_scores_total{" in text
    assert 'port="2304"' in text
    assert "southbound_http_request_seconds_bucket" in text
    assert "southbound_model_info" in text


def test_no_model_means_503_and_not_ready(database_url, tmp_path):
    from service import create_app
    app = create_app({"DATABASE_URL": database_url, "REGISTRY": str(tmp_path / "empty"),
                      "LOG_LEVEL": "ERROR"})
    from service.auth import create_token
    token = create_token(app.extensions["southbound.store"], "officer", "x")
    client = app.test_client()
    assert_error(client.get("/readyz"), 503, "not_ready")
    assert_error(client.post("/v1/score", json=outbound(),
                             headers={"Authorization": f"Bearer {token}"}), 503, "no_model")
    app.extensions["southbound.store"].engine.dispose()


def test_openapi_document_is_valid_and_covers_every_route(app, client):
    from openapi_spec_validator import validate
    document = client.get("/v1/openapi.json").json
    validate(document)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("console."):
            continue  # the console's pages are not part of API v1
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)


def test_unexpected_errors_are_json_500s(app, client, auth, monkeypatch):
    from service import scorer

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(scorer, "fingerprint", broken)
    assert_error(client.post("/v1/score", json=outbound(), headers=auth["officer"]),
                 500, "internal_error")
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


def test_lane_lists_a_ports_latest_crossings_newest_first(client, auth):
    h = auth["officer"]
    for i in range(3):
        client.post("/v1/score", json=outbound(i, crossed_at=f"2025-03-04T1{i}:00:00-06:00"),
                    headers=h)
    client.post("/v1/score", json=outbound(9, port_code="2506"), headers=h)
    client.post("/v1/crossings/o1/outcome", json={"inspected": True, "seizure": False}, headers=h)
    lane = client.get("/v1/crossings?port_code=2304&limit=2", headers=h)
    assert lane.status_code == 200
    items = lane.json["crossings"]
    assert [c["crossing_id"] for c in items] == ["o2", "o1"]
    assert items[1]["outcome"] == {"inspected": True, "seizure": False}
    assert items[0]["reasons"] and items[0]["risk_band"]
    assert_error(client.get("/v1/crossings?port_code=x", headers=h), 400, "invalid_value",
                 "port_code")
    assert_error(client.get("/v1/crossings", headers=h), 400, "invalid_value", "port_code")
    assert_error(client.get("/v1/crossings?port_code=2304&limit=0", headers=h), 400,
                 "invalid_value", "limit")


def test_lane_is_in_crossing_order_whatever_order_they_were_scored_in(client, auth):
    """A back-filled crossing (scored last, crossed first) takes its own place in the lane,
    not the top; two crossings written in different offsets are ordered by their instant."""
    h = auth["officer"]
    for i, stamp in [(1, "2025-03-04T17:47:38Z"), (2, "2025-03-04T11:50:00-06:00"),
                     (3, "2025-01-12T08:04:00Z")]:  # 11:50-06:00 is 17:50Z: after o1
        assert client.post("/v1/score", json=outbound(i, crossed_at=stamp),
                           headers=h).status_code == 201
    lane = client.get("/v1/crossings?port_code=2304", headers=h).json["crossings"]
    assert [c["crossing_id"] for c in lane] == ["o2", "o1", "o3"]
