"""An outbound crossing owns its id: an inbound crossing sent under it, before or after,
is kept aside as history and never keeps the outbound one from being scored, stored or
referred by its lookout (once, an inbound row under a future outbound id made the real
one a 409, and a watch-listed plate crossed unreferred)."""
from __future__ import annotations

import json

import pytest

from scoring.contract import read_log
from service.store import aside_key, audit, crossings, scores
from southbound.cli import main
from tests.helpers.service import assert_error, inbound, outbound, rows, soon

LONG = "L" * 128  # the longest id the API takes: set aside, its key is longer


def lookout(client, auth, plate):
    response = client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": plate, "reason": "watch list", "expires_at": soon()})
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("crossing_id", ["o1", LONG], ids=["short", "128 characters"])
def test_an_inbound_row_under_a_future_outbound_id_cannot_stop_its_lookout(
        app, client, auth, crossing_id):
    lookout(client, auth, "PLOOK1")
    squat = client.post("/v1/crossings", headers=auth["officer"],
                        json=inbound(crossing_id=crossing_id, plate_id="PX"))
    assert squat.status_code == 201, squat.json
    answer = client.post("/v1/score", headers=auth["officer"],
                         json=outbound(crossing_id=crossing_id, plate_id="PLOOK1"))
    assert answer.status_code == 201, answer.json
    assert answer.json["refer"] is True
    shown = client.get(f"/v1/crossings/{crossing_id}", headers=auth["analyst"]).json
    assert shown["crossing"]["direction"] == "outbound"
    assert shown["score"]["referral_source"] == "lookout"
    assert rows(app, scores, crossing_id=crossing_id)[0]["refer"]
    # the inbound row is kept, aside, as history; the outbound one has the id
    aside = rows(app, crossings, crossing_id=aside_key(crossing_id))
    assert [(r["direction"], r["plate_id"]) for r in aside] == [("inbound", "PX")]
    trail = rows(app, audit, target=crossing_id)
    assert [a["action"] for a in trail] == ["inbound", "score", "crossing_read"]
    assert json.loads(trail[1]["detail"])["inbound_set_aside"] is True
    # the outcome goes to the outbound crossing
    recorded = client.post(f"/v1/crossings/{crossing_id}/outcome", headers=auth["officer"],
                           json={"inspected": True, "seizure": True, "firearms_seized": 2})
    assert recorded.status_code == 201, recorded.json
    # the inbound crossing sent again is the same one, stored: 200, nothing new
    again = client.post("/v1/crossings", headers=auth["officer"],
                        json=inbound(crossing_id=crossing_id, plate_id="PX"))
    assert again.status_code == 200, again.json
    assert len(rows(app, crossings)) == 2


def test_an_inbound_row_after_the_outbound_one_is_stored_aside(app, client, auth):
    assert client.post("/v1/score", headers=auth["officer"], json=outbound()).status_code == 201
    late = client.post("/v1/crossings", headers=auth["officer"], json=inbound(crossing_id="o1"))
    assert late.status_code == 201, late.json
    assert late.json["crossing_id"] == "o1"
    assert client.post("/v1/crossings", headers=auth["officer"],
                       json=inbound(crossing_id="o1")).status_code == 200
    assert_error(client.post("/v1/crossings", headers=auth["officer"],
                             json=inbound(crossing_id="o1", plate_id="P9")),
                 409, "conflict", "crossing_id")
    shown = client.get("/v1/crossings/o1", headers=auth["officer"]).json
    assert shown["crossing"]["direction"] == "outbound"
    stored = rows(app, crossings, crossing_id=aside_key("o1"))
    assert [r["direction"] for r in stored] == ["inbound"]
    assert json.loads(rows(app, audit, action="inbound")[0]["detail"])["set_aside"] is True
    # an outbound crossing sent again is still answered as stored
    repeat = client.post("/v1/score", headers=auth["officer"], json=outbound())
    assert repeat.status_code == 200, repeat.json


def test_history_counts_an_inbound_row_set_aside_as_any_other(client, auth):
    """Two plates with the same story, one whose entry came under its exit's id: the
    same plate history features."""
    for plate, entry_id, exit_id in (("PA", "entry-a", "exit-a"), ("PB", "exit-b", "exit-b")):
        assert client.post("/v1/crossings", headers=auth["officer"], json=inbound(
            crossing_id=entry_id, plate_id=plate, crossed_at="2025-03-02T10:00:00-06:00"),
        ).status_code == 201
        assert client.post("/v1/score", headers=auth["officer"], json=outbound(
            crossing_id=exit_id, plate_id=plate)).status_code == 201
    features = [client.get(f"/v1/crossings/{i}", headers=auth["analyst"]).json["score"]
                ["features"] for i in ("exit-a", "exit-b")]
    plate = ("plate_in_30d", "plate_hours_since_inbound", "plate_inbound_other_port",
             "plate_days_since_first_seen", "plate_ports_used")
    assert [features[0][n] for n in plate] == [features[1][n] for n in plate]
    assert features[1]["plate_in_30d"] == 1  # the entry set aside is seen


def test_an_id_holding_the_stores_marker_is_refused(client, auth):
    for path, body in (("/v1/crossings", inbound(crossing_id="o1\x1finbound")),
                       ("/v1/score", outbound(crossing_id="o1\x1finbound"))):
        response = client.post(path, headers=auth["officer"], json=body)
        assert_error(response, 400, "invalid_value", "crossing_id")
        assert "U+001F" in response.json["error"]["message"]
    assert client.post("/v1/crossings", headers=auth["officer"],
                       json=inbound(crossing_id="o1")).status_code == 201
    assert client.post("/v1/score", headers=auth["officer"], json=outbound()).status_code == 201
    # the aside key cannot be looked up either: U+001F breaks the identifier rule
    assert_error(client.get("/v1/crossings/o1%1Finbound", headers=auth["officer"]),
                 400, "invalid_value", "crossing_id")


def test_the_export_holds_each_id_once(app, client, auth, runner, database_url, tmp_path,
                                       monkeypatch):
    client.post("/v1/crossings", headers=auth["officer"], json=inbound(crossing_id="o1"))
    client.post("/v1/crossings", headers=auth["officer"], json=inbound(crossing_id="i2"))
    client.post("/v1/score", headers=auth["officer"], json=outbound())
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    out = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--since", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "left out 1 inbound crossing sent under the id of an outbound crossing" in (
        result.output)
    exported = read_log(out).frame          # the contract holds: each id once
    assert sorted(zip(exported["crossing_id"], exported["direction"])) == [
        ("i2", "inbound"), ("o1", "outbound")]
    row = [r for r in rows(app, audit, action="export")][-1]
    assert json.loads(row["detail"])["left_out"] == 1


def test_a_store_with_the_narrow_key_is_widened_by_its_migration(database_url):
    """Migration 6 on a store made when the key was VARCHAR(128) (PostgreSQL enforces it;
    SQLite never did): an inbound row of a 128-character id can be set aside after it."""
    import sqlalchemy as sa

    from service.store import Store
    from service.store.tables import aside_key
    from tests.helpers.schema import migrate_to
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        migrate_to(conn, 5)
        if conn.dialect.name == "postgresql":  # the column as migration 1 made it then
            conn.execute(sa.text("ALTER TABLE crossings ALTER COLUMN crossing_id "
                                 "TYPE VARCHAR(128)"))
    engine.dispose()
    store = Store(database_url)
    try:
        store.migrate()
        row = {"crossing_id": aside_key(LONG), "crossed_at": 0, "utc_offset_min": 0,
               "direction": "inbound", "port_code": "2304", "vehicle_class": "personal",
               "plate_id": "P1"}
        with store.write() as conn:
            store.insert_crossing(conn, row)
        with store.engine.connect() as conn:
            assert store.inbound(conn, LONG)["plate_id"] == "P1"
    finally:
        store.engine.dispose()
