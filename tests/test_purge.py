"""``southbound purge``: crossings before the cutoff removed from every table that holds
them, the rest kept, audited in the same transaction, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from service.store import Store, aside_key, audit, chain, crossings, lookouts, tokens
from southbound.cli import main

DAY = 86_400_000_000
START = datetime(2025, 3, 1, tzinfo=timezone.utc)


def micros(moment):
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def fill(store, start, days=6):
    """Three outbound crossings a day from ``start``, each scored, the first with an
    outcome, the second with a shadow score, and an inbound one set aside; a lookout, a
    token and an audit row dated at the start. Returns ``{crossing key: crossed_at}``."""
    keys = {}
    with store.write() as conn:
        for day in range(days):
            for k in range(3):
                key, at = f"o{day}-{k}", micros(start) + day * DAY + k * 3_600_000_000
                store.insert_crossing(conn, {"crossing_id": key, "crossed_at": at,
                                             "utc_offset_min": -360, "direction": "outbound",
                                             "port_code": "2304", "vehicle_class": "personal",
                                             "plate_id": f"P{k}"})
                store.insert_score(conn, dict(
                    crossing_id=key, scored_at=at, port_code="2304", model_version="v1",
                    policy_version="p1", risk_score=0.1, raw_score=0.1, risk_band="low",
                    refer=False, referral_source="model", selection_probability=0.01,
                    reasons="[]", features='{"plate_count_30d": 1}', request_sha256="0" * 64))
                if k == 0:
                    store.record_outcome(conn, key, {"inspected": 1, "seizure": 0}, "ana")
                if k == 1:
                    store.insert_shadow(conn, dict(
                        crossing_id=key, scored_at=at, port_code="2304", model_version="v2",
                        risk_score=0.2, raw_score=0.2, threshold=0.5, would_refer=False))
                keys[key] = at
            aside, at = aside_key(f"o{day}-0"), micros(start) + day * DAY + 1
            store.insert_crossing(conn, {"crossing_id": f"o{day}-0", "crossed_at": at,
                                         "utc_offset_min": 0, "direction": "inbound",
                                         "port_code": "2402", "vehicle_class": "personal",
                                         "plate_id": "P0"}, key=aside)
            keys[aside] = at
        conn.execute(lookouts.insert().values(plate_id="P0", reason="r", created_by="ana",
                                              expires_at=micros(start) + 400 * DAY,
                                              created_at=micros(start)))
        conn.execute(tokens.insert().values(name="t", role="officer", token_hash="h" * 64,
                                            created_at=micros(start)))
        store.audit(conn, "ana", "score", target="o0-0")
    return keys


def referring_tables(store):
    """Every table of the live database with a foreign key to crossings."""
    inspector = sa.inspect(store.engine)
    found = [name for name in inspector.get_table_names()
             if any(fk["referred_table"] == "crossings"
                    for fk in inspector.get_foreign_keys(name))]
    assert {"scores", "outcomes", "shadow_scores"} <= set(found)
    return found


def keys_in(store, name):
    """The crossing keys each row of table ``name`` holds (one per row)."""
    with store.engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.text(f"SELECT crossing_id FROM {name}")))


def count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def audit_rows(store):
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit).order_by(audit.c.id)).mappings()]


def test_a_purge_removes_every_row_before_the_cutoff_and_keeps_the_rest(store, runner):
    keys = fill(store, START)
    cutoff = micros(START) + 3 * DAY
    tables = ["crossings", *referring_tables(store)]
    before = {name: keys_in(store, name) for name in tables}
    trail_before = audit_rows(store)

    result = runner.invoke(main, ["purge", "--before", "2025-03-04", "--db", store.url,
                                  "--actor", "records office"])
    assert result.exit_code == 0, result.output

    old = {key for key, at in keys.items() if at < cutoff}
    assert len(old) == 12 and len(keys) - len(old) == 12
    expected = {}
    for name in tables:
        kept = keys_in(store, name)
        assert not old & set(kept), f"{name} keeps rows of purged crossings"
        assert kept == [key for key in before[name] if key not in old], name
        expected[name] = len(before[name]) - len(kept)
    assert expected["crossings"] == 12 and expected["scores"] == 9
    assert expected["outcomes"] == 3 and expected["shadow_scores"] == 3
    assert count(store, lookouts) == 1 and count(store, tokens) == 1

    trail = audit_rows(store)
    assert trail[:-1] == trail_before   # the trail only grew, by one row
    row = trail[-1]
    detail = json.loads(row["detail"])
    assert row["action"] == "purge" and detail["deleted"] == expected
    assert detail["cutoff"] == "2025-03-04T00:00:00Z" and detail["by"] == "--before"
    assert detail["on_behalf_of"] == "records office" and row["actor"] != "records office"
    assert "o0-0" not in row["detail"]   # counts, never contents
    with store.engine.connect() as conn:
        checked, _, broken = chain.verify(conn, audit)
    assert broken is None and checked == len(trail)
    assert "crossings" in result.output and "12 deleted" in result.output


def test_a_dry_run_counts_and_changes_nothing(store, runner):
    fill(store, START)
    tables = ["crossings", *referring_tables(store)]
    before = {name: keys_in(store, name) for name in tables}
    trail = audit_rows(store)

    result = runner.invoke(main, ["purge", "--before", "2025-03-04", "--db", store.url,
                                  "--dry-run"])
    assert result.exit_code == 0, result.output
    assert {name: keys_in(store, name) for name in tables} == before
    assert audit_rows(store) == trail
    lines = dict(line.split(None, 1) for line in result.output.splitlines()[1:])
    assert lines == {"shadow_scores": "3 would delete", "outcomes": "3 would delete",
                     "scores": "9 would delete", "crossings": "12 would delete"}


def test_a_purge_whose_audit_row_cannot_be_written_deletes_nothing(store, runner):
    """The audit row is in the delete's transaction: no row, no purge."""
    fill(store, START)
    tables = ["crossings", *referring_tables(store)]
    before = {name: keys_in(store, name) for name in tables}
    with store.engine.begin() as conn:   # what the owner could do: refuse every append
        if store.dialect == "postgresql":
            conn.execute(sa.text("CREATE FUNCTION no_append() RETURNS trigger LANGUAGE "
                                 "plpgsql AS $$ BEGIN RAISE EXCEPTION 'no append'; END $$"))
            conn.execute(sa.text("CREATE TRIGGER no_append BEFORE INSERT ON audit FOR EACH "
                                 "ROW EXECUTE FUNCTION no_append()"))
        else:
            conn.execute(sa.text("CREATE TRIGGER no_append BEFORE INSERT ON audit "
                                 "BEGIN SELECT RAISE(ABORT, 'no append'); END"))
    result = runner.invoke(main, ["purge", "--before", "2025-03-04", "--db", store.url])
    assert result.exit_code != 0
    assert "no append" in str(result.exception)
    assert {name: keys_in(store, name) for name in tables} == before


@pytest.mark.parametrize("value", ["2025-13-01", "last week", "", "2025-03-04T25:00"],
                         ids=["month-13", "words", "empty", "hour-25"])
def test_a_bad_date_is_refused_naming_it(runner, tmp_path, value):
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = runner.invoke(main, ["purge", "--before", value, "--db", url])
    assert result.exit_code == 2
    assert f"--before {value!r} is not a date" in result.output


def test_a_cutoff_in_the_future_is_refused(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    later = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%d")
    result = runner.invoke(main, ["purge", "--before", later, "--db", url])
    assert result.exit_code == 2
    assert f"--before '{later}' is in the future" in result.output


def test_without_before_or_retention_nothing_is_purged(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("SOUTHBOUND_RETENTION_DAYS", raising=False)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    fill(store, START)
    result = runner.invoke(main, ["purge", "--db", store.url])
    assert result.exit_code == 2
    assert "give --before DATE, or set SOUTHBOUND_RETENTION_DAYS" in result.output
    assert count(store, crossings) == 24


def test_a_bad_retention_setting_is_refused_naming_it(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_RETENTION_DAYS", "0")
    result = runner.invoke(main, ["purge", "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2
    assert "SOUTHBOUND_RETENTION_DAYS '0' is out of range" in result.output


def test_the_retention_setting_sets_the_cutoff(store, runner, monkeypatch):
    """Without --before: today (UTC) minus SOUTHBOUND_RETENTION_DAYS (the command's clock
    held at the test's own now, so that a run across midnight gives the same day)."""
    import southbound.commands.retention as command
    now = datetime.now(timezone.utc)
    monkeypatch.setattr(command, "utc_now", lambda: now)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    keys = fill(store, today - timedelta(days=8), days=6)   # days 8 to 3 ago
    monkeypatch.setenv("SOUTHBOUND_RETENTION_DAYS", "5")
    result = runner.invoke(main, ["purge", "--db", store.url])
    assert result.exit_code == 0, result.output
    cutoff = micros(today - timedelta(days=5))
    assert keys_in(store, "crossings") == sorted(k for k, at in keys.items() if at >= cutoff)
    assert count(store, crossings) == 12
    detail = json.loads(audit_rows(store)[-1]["detail"])
    assert detail["by"] == "SOUTHBOUND_RETENTION_DAYS=5"
    assert detail["cutoff"] == (today - timedelta(days=5)).strftime("%Y-%m-%dT00:00:00Z")
    assert detail["deleted"]["crossings"] == 12


def test_a_purge_shortens_the_history_features_look_back_on(store, runner):
    """A crossing scored after a purge: the windowed features are as before (the cutoff is
    more than 30 days back), the features over all history count from the cutoff."""
    def crossing(conn, key, day, direction="outbound", port="2304"):
        store.insert_crossing(conn, {"crossing_id": key, "crossed_at": micros(START) + day * DAY,
                                     "utc_offset_min": -360, "direction": direction,
                                     "port_code": port, "vehicle_class": "commercial",
                                     "plate_id": "P0", "carrier_id": "C0",
                                     "manifest_value_usd": 1000.0})
    with store.write() as conn:
        crossing(conn, "old0", 0, port="2402")
        store.record_outcome(conn, "old0", {"inspected": 1, "seizure": 1}, "ana")
        crossing(conn, "old1", 1)
        for key, day in (("new0", 60), ("new1", 64), ("new2", 67)):
            crossing(conn, key, day)
        crossing(conn, "in0", 66, direction="inbound")
    now = {"crossed_at": micros(START) + 69 * DAY, "port_code": "2304", "plate_id": "P0",
           "carrier_id": "C0", "manifest_value_usd": 1000.0}
    with store.engine.connect() as conn:
        before = store.history(conn, now)

    result = runner.invoke(main, ["purge", "--before", "2025-03-31", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert keys_in(store, "crossings") == ["in0", "new0", "new1", "new2"]
    with store.engine.connect() as conn:
        after = store.history(conn, now)   # 39 days after the cutoff

    windowed = ["plate_out_24h", "plate_out_7d", "plate_out_30d", "plate_in_30d",
                "carrier_out_7d", "carrier_out_30d", "port_hour_share_7d",
                "plate_hour_share_14d", "plate_hours_since_inbound",
                "plate_hours_since_outbound"]
    assert {name: after[name] for name in windowed} == {name: before[name]
                                                         for name in windowed}
    assert before["plate_out_30d"] == 3 and before["plate_in_30d"] == 1
    assert before["plate_days_since_first_seen"] == pytest.approx(69)
    assert after["plate_days_since_first_seen"] == pytest.approx(9)
    assert (before["plate_prior_seizures"], after["plate_prior_seizures"]) == (1, 0)
    assert (before["carrier_prior_seizures"], after["carrier_prior_seizures"]) == (1, 0)
    assert (before["plate_ports_used"], after["plate_ports_used"]) == (2, 1)


def test_a_reader_holding_the_sqlite_wal_is_warned_of(runner, tmp_path):
    """The WAL keeps the deleted rows' old pages while a reader holds it: said, not hidden."""
    import sqlite3
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    fill(store, START)
    reader = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM crossings").fetchone() == (24,)
    result = runner.invoke(main, ["purge", "--before", "2025-03-04", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "another connection holds the SQLite WAL" in result.stderr
    reader.execute("COMMIT")
    reader.close()
    result = runner.invoke(main, ["purge", "--before", "2025-03-05", "--db", store.url])
    assert result.exit_code == 0 and "WAL" not in result.stderr
    assert count(store, crossings) == 8
