"""``southbound audit purge``: the audit trail's oldest rows removed under an anchor row,
the rest still verifiable, on SQLite and PostgreSQL; every other DELETE, every UPDATE
and TRUNCATE still refused; migration 8 on a store that had the old triggers."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from models.files import login_name
from service.store import MIGRATIONS, Store, audit, chain, schema_version
from southbound.cli import main
from tests.helpers.pg import drop_triggers
from tests.helpers.schema import migrate_to

DAY = 86_400_000_000
START = datetime(2025, 3, 1, tzinfo=timezone.utc)


def micros(moment):
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def opened(url):
    store = Store(url)
    store.migrate()
    return store


def write_on(store, monkeypatch, days, start=START, action="lookout_add"):
    """One audit row on each of ``days`` (days after ``start``), stamped that day."""
    import service.store.queries as queries
    with monkeypatch.context() as patch:
        for day in days:
            patch.setattr(queries, "now_us", lambda day=day: micros(start) + day * DAY)
            with store.write() as conn:
                store.audit(conn, "ana", action, target=f"d{day}", day=day)


def trail(store):
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit).order_by(audit.c.id)).mappings()]


def verified(store):
    with store.engine.connect() as conn:
        return chain.verify(conn, audit)


def refused(store, statement, match="the audit trail is append-only"):
    """``statement`` fails (the trail unchanged)."""
    before = trail(store)
    with pytest.raises(sa.exc.DBAPIError, match=match):
        with store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert trail(store) == before


def purged(runner, store, *args):
    result = runner.invoke(main, ["audit", "purge", "--db", store.url, *args])
    assert result.exit_code == 0, result.output
    return result


def test_a_purge_removes_the_oldest_rows_under_an_anchor_and_the_rest_verifies(store, runner,
                                                                              monkeypatch):
    write_on(store, monkeypatch, range(8))   # rows 1..8, one a day from March 1
    head = trail(store)[4]   # the last row written before March 6

    result = purged(runner, store, "--before", "2025-03-06", "--actor", "records office")
    assert "purged 5 audit rows written before 2025-03-06T00:00:00Z (--before)" in result.output
    assert "up to row 5; the anchor, row 9, records it; audited" in result.output

    rows = trail(store)
    assert [r["id"] for r in rows] == [6, 7, 8, 9]
    anchor = rows[-1]
    detail = json.loads(anchor["detail"])
    assert anchor["action"] == "audit_purge" and anchor["actor"] == login_name()
    assert detail == {"cutoff": "2025-03-06T00:00:00Z", "by": "--before", "deleted": 5,
                      "last_removed_id": 5, "last_removed_hash": head["row_hash"],
                      "last_removed_at": "2025-03-05T00:00:00Z",
                      "via": "southbound audit purge", "on_behalf_of": "records office"}
    assert rows[0]["prev_hash"] == head["row_hash"]   # the first row left links to the anchor
    assert anchor["prev_hash"] == rows[-2]["row_hash"]   # the anchor is in the chain
    assert verified(store) == (4, anchor["row_hash"], None)

    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 0 and "audit trail intact: 4 rows chained" in result.output
    result = runner.invoke(main, ["audit", "verify", "--db", store.url,
                                  "--head", head["row_hash"]])   # a head of before: purged
    assert result.exit_code == 1
    assert ("or it is one of the rows up to 5 that the audit purge of row 9 removed"
            in result.output)
    listing = runner.invoke(main, ["audit", "--db", store.url, "--action", "audit_purge"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert len(lines) == 2 and lines[1].split("\t")[:4:3] == ["9", "audit_purge"]
    assert runner.invoke(main, ["audit", "verify", "--db", store.url]).exit_code == 0


def test_a_second_purge_removes_the_first_anchor_and_one_removing_nothing_keeps_its_mark(
        store, runner, monkeypatch):
    """The newest anchor is the one the chain starts from; older rows, older anchors
    among them, may go; a purge with nothing to remove carries the boundary on."""
    write_on(store, monkeypatch, range(4))
    purged(runner, store, "--before", "2025-03-03")   # rows 1, 2; anchor 5, written now
    purged(runner, store, "--before", "2025-03-02")   # nothing before: anchor 6
    assert [r["id"] for r in trail(store)] == [3, 4, 5, 6]
    assert json.loads(trail(store)[-1]["detail"])["last_removed_id"] == 2
    assert verified(store)[2] is None

    def now():
        return datetime.now(timezone.utc).isoformat()
    purged(runner, store, "--before", now())   # 3 to 6, both anchors among them; anchor 7
    rows = trail(store)
    assert [r["id"] for r in rows] == [7]
    assert json.loads(rows[0]["detail"])["deleted"] == 4
    assert verified(store) == (1, rows[0]["row_hash"], None)
    purged(runner, store, "--before", now())   # the anchor itself goes, under its successor
    assert [r["id"] for r in trail(store)] == [8]
    assert verified(store)[2] is None
    assert runner.invoke(main, ["audit", "verify", "--db", store.url]).exit_code == 0


def test_purges_among_concurrent_writers_leave_one_chain(store, runner):
    """Writers append, each with its own store (its own connections and, on SQLite, its own
    file lock), while purges of everything written so far run: each purge holds the append
    lock from its count to its commit, so every append chains to the row before it, the
    anchor's or a later one, and what is left verifies."""
    import threading
    writers, each, errors = 4, 25, []
    stores = [opened(store.url) for _ in range(writers)]
    start = threading.Barrier(writers + 1)

    def work(mine, k):
        try:
            start.wait()
            for i in range(each):
                with mine.write() as conn:
                    mine.audit(conn, f"worker{k}", "lookout_add", target=f"t{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    start.wait()
    removed = 0
    for _ in range(3):
        output = purged(runner, store, "--before", datetime.now(timezone.utc).isoformat()).output
        removed += int(re.search(r"purged (\d+) audit rows?", output).group(1))
    for thread in threads:
        thread.join()
    for mine in stores:
        mine.engine.dispose()
    assert not errors, errors
    rows = trail(store)
    assert verified(store) == (len(rows), rows[-1]["row_hash"], None)
    assert len({r["prev_hash"] for r in rows}) == len(rows)   # no fork
    assert len(rows) + removed == writers * each + 3   # every row once: kept or counted
    assert removed > 0


def test_a_dry_run_counts_and_changes_nothing(store, runner, monkeypatch):
    write_on(store, monkeypatch, range(5))
    before = trail(store)
    result = purged(runner, store, "--before", "2025-03-04", "--dry-run")
    assert result.output.splitlines()[1].split() == ["audit", "3", "would", "delete"]
    assert "nothing deleted" in result.output
    assert trail(store) == before


@pytest.mark.parametrize("statement", [
    "DELETE FROM audit WHERE id = 1",
    "DELETE FROM audit",
    "UPDATE audit SET actor = 'mallory' WHERE id = 1",
], ids=["delete-one", "delete-all", "update"])
def test_without_an_anchor_nothing_is_removed_or_changed(store, monkeypatch, statement):
    write_on(store, monkeypatch, range(3))
    refused(store, statement)


@pytest.mark.parametrize("statement", [
    "DELETE FROM audit WHERE id = 4",          # the first row left
    "DELETE FROM audit WHERE id = 6",          # the anchor
    "DELETE FROM audit",
    "UPDATE audit SET actor = 'mallory' WHERE id = 4",
    "UPDATE audit SET detail = '{\"last_removed_id\": 9}' WHERE id = 6",
], ids=["delete-newer", "delete-anchor", "delete-all", "update", "update-anchor"])
def test_after_a_purge_rows_it_did_not_remove_stay(store, runner, monkeypatch, statement):
    write_on(store, monkeypatch, range(5))
    purged(runner, store, "--before", "2025-03-04")   # rows 1..3; anchor 6
    refused(store, statement)
    assert verified(store)[2] is None


def test_truncate_stays_refused_on_postgresql(runner, monkeypatch):
    from tests.helpers.pg import pg_database
    url, drop = pg_database()
    store = opened(url)
    try:
        write_on(store, monkeypatch, range(3))
        purged(runner, store, "--before", "2025-03-02")
        refused(store, "TRUNCATE audit", "append-only: TRUNCATE is refused")
    finally:
        store.engine.dispose()
        drop()


def test_verify_after_a_purge_still_finds_a_changed_or_cut_row(store, runner, monkeypatch):
    write_on(store, monkeypatch, range(6))
    purged(runner, store, "--before", "2025-03-03")   # rows 1, 2; rows 3..6 and anchor 7
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit SET actor = 'mallory' WHERE id = 4"))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert "broken at row 4: its row_hash does not match its contents" in result.output

    with store.engine.begin() as conn:   # the start cut without an anchor of its own
        conn.execute(sa.text("DELETE FROM audit WHERE id IN (3, 4)"))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert ("broken at row 5: its prev_hash is not the start of the chain (rows before it "
            "were removed, not by the audit purge of row 7: it removed rows up to 2)"
            ) in result.output and "Traceback" not in result.output


def test_a_purge_that_would_remove_the_evidence_of_a_broken_chain_is_refused(store, runner,
                                                                              monkeypatch):
    write_on(store, monkeypatch, range(5))
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit SET actor = 'mallory' WHERE id = 2"))
    before = trail(store)
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(main, ["audit", "purge", "--db", store.url,
                                      "--before", "2025-03-04", *extra])
        assert result.exit_code == 1
        assert "broken at row 2, which a purge before 2025-03-04T00:00:00Z would remove" \
            in result.output and "nothing purged" in result.output
    assert trail(store) == before
    purged(runner, store, "--before", "2025-03-02")   # row 1 alone: the break stays
    assert "broken at row 2" in runner.invoke(main, ["audit", "verify", "--db",
                                                     store.url]).output


@pytest.mark.parametrize("changed", [False, True])
def test_rows_appended_after_the_walk_are_walked_under_the_lock(store, monkeypatch, changed):
    """`audit purge` walks the chain without the append lock (a long walk would hold it
    against every writer), so rows may be appended before the purge takes the lock; it
    walks those under the lock, and refuses, removing nothing, when one it would remove
    breaks the chain."""
    from service.store import audit_retention
    write_on(store, monkeypatch, range(3))
    with store.engine.connect() as conn:
        checked = chain.walk(conn, audit)
    assert (checked.rows, checked.head_id, checked.broken) == (3, 3, None)
    write_on(store, monkeypatch, range(3, 5))   # after the walk, before the purge
    if changed:
        drop_triggers(store)
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit SET actor = 'mallory' WHERE id = 4"))
    before = trail(store)
    everything = micros(START) + 5 * DAY
    if changed:
        with pytest.raises(audit_retention.BrokenChain, match="broken at row 4: its row_hash"):
            with store.write() as conn:
                audit_retention.purge(store, conn, everything, "ana",
                                      verified=(checked.head_id, checked.head))
        assert trail(store) == before
        everything = micros(START) + 3 * DAY    # the changed row stays: rows 1-3 may go
    with store.write() as conn:
        removal, _ = audit_retention.purge(store, conn, everything, "ana",
                                           verified=(checked.head_id, checked.head))
    assert removal.rows == (3 if changed else 5)
    assert [r["id"] for r in trail(store)] == ([4, 5, 6] if changed else [6])  # 6: anchor


@pytest.mark.parametrize("first_days", [1, 3])
def test_a_purge_after_another_purge_since_its_walk_goes_ahead(store, monkeypatch,
                                                               first_days):
    """Two purges walk the chain, then take the lock one after the other: the second's
    walk of what was appended since its own walk starts at its walk's head, which the
    first purge may have removed (3 days: rows 1-3) or kept (1 day: row 1 only). The
    rows after that head, the first purge's anchor among them, still chain to it, so
    the second purge goes ahead and the trail verifies."""
    from service.store import audit_retention
    write_on(store, monkeypatch, range(3))
    with store.engine.connect() as conn:
        checked = chain.walk(conn, audit)       # both purges' walk: head row 3
    write_on(store, monkeypatch, range(3, 5))   # rows 4 and 5, after the walks
    with store.write() as conn:
        first, _ = audit_retention.purge(store, conn, micros(START) + first_days * DAY, "ana",
                                         verified=(checked.head_id, checked.head))
    assert first.rows == first_days
    with store.write() as conn:
        second, anchor = audit_retention.purge(store, conn, micros(START) + 5 * DAY, "ana",
                                               verified=(checked.head_id, checked.head))
    assert (second.rows, second.last_id) == (5 - first_days, 5)
    assert [r["id"] for r in trail(store)] == [6, anchor]   # the two anchors
    assert verified(store)[2] is None


def test_the_setting_is_empty_by_default_and_keeps_everything(store, runner, monkeypatch):
    from scoring.settings import from_environment
    monkeypatch.delenv("SOUTHBOUND_AUDIT_RETENTION_DAYS", raising=False)
    assert from_environment({})["AUDIT_RETENTION_DAYS"] is None
    write_on(store, monkeypatch, range(3))
    before = trail(store)
    result = runner.invoke(main, ["audit", "purge", "--db", store.url])
    assert result.exit_code == 2
    assert ("nothing to purge by: give --before DATE, or set SOUTHBOUND_AUDIT_RETENTION_DAYS "
            "(empty: every audit row is kept)") in result.output
    assert trail(store) == before
    monkeypatch.setenv("SOUTHBOUND_RETENTION_DAYS", "1")   # the crossings' setting: not this
    assert runner.invoke(main, ["audit", "purge", "--db", store.url]).exit_code == 2
    assert trail(store) == before


def test_the_setting_sets_the_cutoff(store, runner, monkeypatch):
    """Without --before: today (UTC) minus SOUTHBOUND_AUDIT_RETENTION_DAYS (the clock held
    at the test's own now)."""
    import southbound.commands.retention as command
    now = datetime.now(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    write_on(store, monkeypatch, range(6), start=today - timedelta(days=8))   # 8 to 3 ago
    monkeypatch.setattr(command, "utc_now", lambda: now)
    monkeypatch.setenv("SOUTHBOUND_AUDIT_RETENTION_DAYS", "5")
    result = purged(runner, store)
    assert "(SOUTHBOUND_AUDIT_RETENTION_DAYS=5)" in result.output
    rows = trail(store)
    assert [r["target"] for r in rows[:-1]] == ["d3", "d4", "d5"]
    detail = json.loads(rows[-1]["detail"])
    assert detail["deleted"] == 3 and detail["by"] == "SOUTHBOUND_AUDIT_RETENTION_DAYS=5"
    assert verified(store)[2] is None


@pytest.mark.parametrize("args, message", [
    (["--before", "2025-13-01"], "--before '2025-13-01' is not a date"),
    (["--before", "last week"], "--before 'last week' is not a date"),
    (["--before", "2999-01-01"], "--before '2999-01-01' is in the future: it would delete "
                                 "every audit row"),
], ids=["month-13", "words", "future"])
def test_a_bad_date_is_one_clear_line(runner, tmp_path, args, message):
    result = runner.invoke(main, ["audit", "purge", "--db", f"sqlite:///{tmp_path / 's.db'}",
                                  *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_bad_setting_is_refused_naming_it(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_AUDIT_RETENTION_DAYS", "a year")
    result = runner.invoke(main, ["audit", "purge", "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2
    assert "SOUTHBOUND_AUDIT_RETENTION_DAYS 'a year' is not a whole number" in result.output


def test_migration_8_lets_an_existing_store_purge(database_url, runner, monkeypatch):
    """A store of migrations 1 to 7, its trail written under the old triggers: migration 8
    replaces the delete trigger; the rows, the chain and every refusal stay."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        migrate_to(conn, 7)
    engine.dispose()
    old = Store(database_url)   # not migrated: the store as version 7 left it
    write_on(old, monkeypatch, range(4))
    with pytest.raises(sa.exc.DBAPIError, match="append-only: DELETE is refused"):
        with old.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit WHERE id = 1"))
    before = trail(old)
    old.engine.dispose()

    store = opened(database_url)
    try:
        with store.engine.connect() as conn:
            versions = [r[0] for r in conn.execute(sa.select(schema_version.c.version)
                                                   .order_by(schema_version.c.version))]
        assert versions == [version for version, _, _ in MIGRATIONS]
        assert trail(store) == before and verified(store)[2] is None
        refused(store, "DELETE FROM audit WHERE id = 1")
        purged(runner, store, "--before", "2025-03-03")
        assert [r["id"] for r in trail(store)] == [3, 4, 5]
        assert verified(store)[2] is None
        refused(store, "DELETE FROM audit WHERE id = 3")
    finally:
        store.engine.dispose()


# --- PostgreSQL roles: who may delete at all ----------------------------------------

def test_the_readme_service_role_cannot_purge_nor_open_a_delete_with_an_anchor(runner,
                                                                               monkeypatch):
    """The service's role has no DELETE on audit: its purge is one line and changes
    nothing. A role that may append and delete but does not own the table cannot delete
    through an anchor of its own writing either: the trigger lets only the owner through."""
    from tests.helpers.pg import pg_database, readme_service_role
    url, drop = pg_database()
    owner = opened(url)
    write_on(owner, monkeypatch, range(4))
    drop_role = None
    try:
        role_url, drop_role = readme_service_role(owner)
        before = trail(owner)
        result = runner.invoke(main, ["audit", "purge", "--db", role_url,
                                      "--before", "2025-03-03"])
        assert result.exit_code == 1
        assert "the database refused the audit purge" in result.output
        assert "permission denied for table audit" in result.output
        assert "run it as the owner" in result.output and "Traceback" not in result.output
        assert trail(owner) == before   # not even the anchor

        role = sa.engine.make_url(role_url).username
        with owner.engine.begin() as conn:   # a grant the README does not make
            conn.execute(sa.text(f'GRANT DELETE ON audit TO "{role}"'))
        service = Store(role_url)
        with service.write() as conn:   # an anchor that claims every row
            service.audit(conn, "mallory", chain.ANCHOR, last_removed_id=10**9,
                          last_removed_hash=chain.GENESIS)
        with pytest.raises(sa.exc.ProgrammingError, match="append-only: DELETE is refused"):
            with service.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM audit WHERE id = 1"))
        service.engine.dispose()
        assert len(trail(owner)) == 5
    finally:
        owner.engine.dispose()
        drop()
        if drop_role is not None:
            drop_role()
