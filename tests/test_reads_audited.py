"""Reads of persons are recorded, on SQLite and PostgreSQL: a look-up of a crossing (found
or not), a port's lane, the lookouts, a repeated score's stored answer and an export each
write an audit row with who, when, what and from where, chained like every other row and
committed before the answer; X-Forwarded-For is believed only behind configured proxies.
"""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from service.store import audit, chain
from models.files import login_name
from southbound.cli import main
from tests.helpers.service import make_app, outbound, rows, tokens_for

PEER = {"REMOTE_ADDR": "10.20.30.40"}


def reads(app, action):
    return [dict(r, detail=json.loads(r["detail"])) for r in rows(app, audit, action=action)]


def test_every_read_of_a_person_is_on_record_with_who_what_and_from_where(app, client, auth):
    h = auth["officer"]
    for i in (1, 2, 3):
        assert client.post("/v1/score", json=outbound(i), headers=h).status_code == 201
    before = len(rows(app, audit))

    looked = client.get("/v1/crossings/o2", headers=h, environ_base=PEER)
    assert looked.status_code == 200
    missing = client.get("/v1/crossings/nobody", headers=h, environ_base=PEER)
    assert missing.status_code == 404
    lane = client.get("/v1/crossings?port_code=2304&limit=2", headers=h, environ_base=PEER)
    assert lane.status_code == 200 and len(lane.json["crossings"]) == 2
    listed = client.get("/v1/lookouts", headers=auth["analyst"], environ_base=PEER)
    assert listed.status_code == 200
    again = client.post("/v1/score", json=outbound(1), headers=h, environ_base=PEER)
    assert again.status_code == 200

    found, unknown = reads(app, "crossing_read")
    assert (found["actor"], found["target"], found["detail"]) == (
        "officer-test", "o2", {"found": True, "client": "10.20.30.40"})
    assert (unknown["target"], unknown["detail"]) == (
        "nobody", {"found": False, "client": "10.20.30.40"})
    [lane_row] = reads(app, "lane_read")
    assert (lane_row["actor"], lane_row["target"], lane_row["detail"]) == (
        "officer-test", "2304", {"count": 2, "limit": 2, "client": "10.20.30.40"})
    [lookouts_row] = reads(app, "lookouts_read")
    assert (lookouts_row["actor"], lookouts_row["detail"]) == (
        "analyst-test", {"count": 0, "limit": 100, "after": None, "client": "10.20.30.40"})
    [repeat] = reads(app, "score_repeat")
    assert (repeat["actor"], repeat["target"], repeat["detail"]["client"]) == (
        "officer-test", "o1", "10.20.30.40")
    # when: the rows are in the order of the reads, timed, and the chain holds
    written = rows(app, audit)[before:]
    assert [r["action"] for r in written] == ["crossing_read", "crossing_read", "lane_read",
                                              "lookouts_read", "score_repeat"]
    assert all(r["at"] > 0 for r in written)
    with app.extensions["southbound.store"].engine.connect() as conn:
        assert chain.verify(conn, audit)[2] is None


@pytest.mark.parametrize("crossing_id, stored, status", [
    ("x" * 300, "x" * 300, 404),     # longer than the target column holds
    ("a%00b", "a\x00b", 400),        # a NUL (PostgreSQL text cannot hold it): no identifier
], ids=["too-long", "nul"])
def test_a_look_up_of_an_id_the_store_cannot_hold_is_on_record_too(app, client, auth,
                                                                   crossing_id, stored, status):
    response = client.get(f"/v1/crossings/{crossing_id}", headers=auth["officer"])
    assert response.status_code == status
    [row] = reads(app, "crossing_read")
    assert row["target"] is None
    assert row["detail"]["found"] is False and row["detail"]["crossing_id"] == stored
    assert row["detail"]["id_chars"] == len(stored)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_read_whose_audit_row_cannot_be_written_shows_nothing(app, client, auth,
                                                               monkeypatch):
    """The row is committed before the answer: when it fails, the answer is a 503 with
    none of the crossing's data."""
    h = auth["officer"]
    assert client.post("/v1/score", json=outbound(1), headers=h).status_code == 201
    store = app.extensions["southbound.store"]

    def refuse(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO audit", {}, Exception("disk I/O error"))
    monkeypatch.setattr(store, "audit", refuse)
    for url in ("/v1/crossings/o1", "/v1/crossings?port_code=2304"):
        response = client.get(url, headers=h)
        assert response.status_code == 503, url
        assert "P1" not in response.get_data(as_text=True), url


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("proxies, recorded", [(0, "10.20.30.40"), (1, "203.0.113.7")],
                         ids=["no-proxy-header-ignored", "behind-one-proxy"])
def test_x_forwarded_for_is_believed_only_behind_configured_proxies(
        database_url, registry_path, tmp_path, proxies, recorded):
    app = make_app(database_url, registry_path, tmp_path, TRUSTED_PROXIES=proxies)
    try:
        h = tokens_for(app)["officer"]
        forged = {**h, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        assert app.test_client().get("/v1/crossings/o9", headers=forged,
                                     environ_base=PEER).status_code == 404
        [row] = reads(app, "crossing_read")
        assert row["detail"]["client"] == recorded
    finally:
        app.extensions["southbound.store"].engine.dispose()


def test_an_export_is_on_record_before_the_file_is_written(runner, app, client, auth,
                                                          database_url, tmp_path, monkeypatch):
    assert client.post("/v1/score", json=outbound(1), headers=auth["officer"]).status_code == 201
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    out = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--since", "2025-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [row] = reads(app, "export")
    assert row["actor"] == login_name()  # the process's login, whatever $USER says
    assert row["detail"]["rows"] == 1 and row["detail"]["since"] == "2025-03-01"
    assert row["detail"]["via"] == "southbound export" and row["detail"]["client"]
