"""The audit trail is append-only and tamper-evident, on SQLite and PostgreSQL.

Triggers refuse UPDATE and DELETE (PostgreSQL: TRUNCATE); rows are hash-chained and
concurrent writers still make one chain; a store older than the chain is chained by
its migration; ``southbound audit`` reads the trail (and is audited), ``audit verify``
names the first broken row; inbound crossings are audited with their actor; the
README's database role for the service appends but cannot rewrite.
"""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
import sqlalchemy as sa

from service.store import Store, audit, chain
from southbound.cli import main
from tests.helpers.pg import drop_triggers
from tests.helpers.schema import migrate_to
from tests.helpers.service import inbound, outbound, rows



def opened(url):
    store = Store(url)
    store.migrate()
    return store


def append(store, n, actor="ana", action="lookout_add"):
    for i in range(n):
        with store.write() as conn:
            store.audit(conn, actor, action, target=f"t{i}", n=i)


def verified(store):
    with store.engine.connect() as conn:
        return chain.verify(conn, audit)


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET actor = 'someone else' WHERE id = 2",
    "UPDATE audit SET detail = '{}'",
    "DELETE FROM audit WHERE id = 1",
    "DELETE FROM audit",
], ids=["update-one", "update-all", "delete-one", "delete-all"])
def test_audit_rows_cannot_be_changed_or_removed(store, statement):
    append(store, 3)
    before = rows_of(store)
    with pytest.raises(sa.exc.DBAPIError, match="the audit trail is append-only"):
        with store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert rows_of(store) == before
    assert verified(store) == (3, before[-1]["row_hash"], None)


def test_truncate_is_refused_on_postgresql():
    """(SQLite has no TRUNCATE; its DELETE without WHERE is refused above.)"""
    from tests.helpers.pg import pg_database
    url, drop = pg_database()
    store = opened(url)
    try:
        append(store, 2)
        with pytest.raises(sa.exc.DBAPIError, match="append-only: TRUNCATE is refused"):
            with store.engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE audit"))
        assert verified(store)[0] == 2 and verified(store)[2] is None
    finally:
        store.engine.dispose()
        drop()


def rows_of(store):
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit).order_by(audit.c.id)).mappings()]


def test_each_row_is_chained_to_the_one_before(store):
    append(store, 4)
    trail = rows_of(store)
    assert trail[0]["prev_hash"] == chain.GENESIS
    for before, row in zip(trail, trail[1:]):
        assert row["prev_hash"] == before["row_hash"]
    for row in trail:
        assert row["row_hash"] == chain.row_hash(row["prev_hash"], row)
        assert re.fullmatch(r"[0-9a-f]{64}", row["row_hash"])
    assert len({r["row_hash"] for r in trail}) == 4


def test_concurrent_writers_make_one_chain(store, monkeypatch):
    """Writers in threads, each with its own store (its own connections and, on SQLite, its
    own file lock, as gunicorn's workers): every append finds the row before it. Without
    the advisory lock on PostgreSQL two appends read the same last hash and the chain forks
    (verify names the second of them)."""
    url = store.url
    slow = chain.row_hash

    def row_hash(prev, row):  # widen the window between reading the last hash and inserting
        time.sleep(0.002)
        return slow(prev, row)

    monkeypatch.setattr(chain, "row_hash", row_hash)
    writers, each, errors = 6, 15, []
    stores = [opened(url) for _ in range(writers)]
    start = threading.Barrier(writers)

    def work(mine, k):
        try:
            start.wait()
            append(mine, each, actor=f"worker{k}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for mine in stores:
        mine.engine.dispose()
    assert not errors, errors
    monkeypatch.setattr(chain, "row_hash", slow)
    count, _, broken = verified(store)
    assert broken is None and count == writers * each
    assert len({r["prev_hash"] for r in rows_of(store)}) == writers * each  # no fork


def test_a_store_older_than_the_chain_is_chained_by_its_migration(database_url):
    """Migration 5 on a store whose audit rows have no hashes: chained once, in id order,
    then the triggers."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        migrate_to(conn, 4)
        for name in ("prev_hash", "row_hash"):  # the table as migration 1 made it then
            conn.execute(sa.text(f"ALTER TABLE audit DROP COLUMN {name}"))
        for i in range(3):
            conn.execute(sa.text(
                "INSERT INTO audit (at, actor, action, target, detail) "
                "VALUES (:at, 'old', 'score', :target, '{}')"), {"at": 1000 + i, "target": f"o{i}"})
        conn.execute(sa.text("UPDATE audit SET actor = 'rewritten' WHERE id = 3"))  # allowed then
    engine.dispose()
    store = opened(database_url)
    try:
        count, _, broken = verified(store)
        assert (count, broken) == (3, None)
        assert rows_of(store)[0]["prev_hash"] == chain.GENESIS
        append(store, 1)  # new rows chain on
        count, _, broken = verified(store)
        assert (count, broken) == (4, None)
        assert rows_of(store)[2]["actor"] == "rewritten"  # what it held when chained
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text("UPDATE audit SET actor = 'again' WHERE id = 3"))
    finally:
        store.engine.dispose()


def test_verify_names_the_first_broken_row(runner, store):
    append(store, 5)
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 0, result.output
    head = rows_of(store)[-1]["row_hash"]
    assert result.output.strip().startswith("audit trail intact: 5 rows chained in ")
    assert result.output.strip().endswith(f"head {head}")

    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit SET actor = 'mallory' WHERE id = 3"))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert "broken at row 3: its row_hash does not match its contents" in result.output
    assert "2 rows before it verify" in result.output and "Traceback" not in result.output

    # a row changed with its own hash recomputed: the next row no longer links to it
    with store.engine.begin() as conn:
        row = dict(conn.execute(sa.select(audit).where(audit.c.id == 3)).mappings().one())
        conn.execute(audit.update().where(audit.c.id == 3).values(
            row_hash=chain.row_hash(row["prev_hash"], row)))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert "broken at row 4: its prev_hash does not match the row_hash of row 3" in result.output


def test_verify_finds_a_removed_row_and_a_cut_head(runner, store):
    append(store, 5)
    heads = [r["row_hash"] for r in rows_of(store)]
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE id = 5"))  # the newest: still links
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 0 and "4 rows chained" in result.output
    result = runner.invoke(main, ["audit", "verify", "--db", store.url, "--head", heads[-1]])
    assert result.exit_code == 1
    assert f"but not the head {heads[-1]}: rows were removed" in result.output
    assert runner.invoke(main, ["audit", "verify", "--db", store.url,
                                "--head", heads[2]]).exit_code == 0
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE id = 2"))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert "broken at row 3: its prev_hash does not match the row_hash of row 1" in result.output
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE id = 1"))
    result = runner.invoke(main, ["audit", "verify", "--db", store.url])
    assert result.exit_code == 1
    assert "broken at row 3: its prev_hash is not the start of the chain" in result.output


def test_the_trail_is_read_by_time_actor_and_action_and_the_reading_audited(runner, store):
    from models.files import login_name
    append(store, 2, actor="ana", action="lookout_add")
    cut = time.time()
    time.sleep(0.01)
    append(store, 1, actor="bo", action="token_create")
    result = runner.invoke(main, ["audit", "--db", store.url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("\t") == ["id", "at", "actor", "action", "target", "model_version",
                                    "detail"]
    assert [line.split("\t")[2:5] for line in lines[1:]] == [
        ["ana", "lookout_add", "t0"], ["ana", "lookout_add", "t1"], ["bo", "token_create", "t0"]]
    assert lines[1].split("\t")[1].endswith("Z") and json.loads(lines[1].split("\t")[6]) == {
        "n": 0}
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut))
    only = runner.invoke(main, ["audit", "--db", store.url, "--since", since + f".{int(cut % 1 * 1e6):06d}"])
    assert [line.split("\t")[2:4] for line in only.output.splitlines()[1:]] == [
        ["bo", "token_create"], [login_name(), "audit_read"]]  # the first reading's row
    only = runner.invoke(main, ["audit", "--db", store.url, "--actor", "ana",
                                "--action", "lookout_add"])
    assert len(only.output.splitlines()) == 3
    none = runner.invoke(main, ["audit", "--db", store.url, "--actor", "nobody"])
    assert none.exit_code == 0 and "no audit rows" in none.output
    # each reading left a row: who, the filters, how many rows it showed
    reads = [r for r in rows_of(store) if r["action"] == "audit_read"]
    assert len(reads) == 4 and all(r["actor"] == login_name() for r in reads)
    assert json.loads(reads[2]["detail"])["filters"] == {"since": None, "actor": "ana",
                                                        "action": "lookout_add"}
    assert json.loads(reads[2]["detail"])["rows"] == 2
    assert runner.invoke(main, ["audit", "verify", "--db", store.url]).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--since", "last tuesday"], "'last tuesday' is not a date"),
    (["--since", "2025-13-01"], "'2025-13-01' is not a date"),
], ids=["words", "month-13"])
def test_a_bad_date_is_one_clear_line(runner, tmp_path, args, message):
    result = runner.invoke(main, ["audit", "--db", f"sqlite:///{tmp_path / 's.db'}", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_an_unreachable_store_is_one_line(runner):
    from tests.helpers.browser import free_port
    for args in (["audit"], ["audit", "verify"]):
        result = runner.invoke(main, [*args, "--db",
                                      f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"])
        assert result.exit_code == 1
        assert result.output.startswith("error: the database cannot be reached")


def test_inbound_crossings_scores_and_outcomes_are_audited_with_their_actor(app, client, auth):
    h = auth["officer"]
    assert client.post("/v1/crossings", json=inbound(), headers=h).status_code == 201
    assert client.post("/v1/crossings", json=inbound(), headers=h).status_code == 200
    assert client.post("/v1/score", json=outbound(), headers=h).status_code == 201
    assert client.post("/v1/crossings/o1/outcome", json={"inspected": False},
                       headers=h).status_code == 201
    trail = [(r["action"], r["target"], r["actor"]) for r in rows(app, audit)
             if r["action"] in ("inbound", "score", "outcome")]
    assert trail == [("inbound", "i1", "officer-test"), ("score", "o1", "officer-test"),
                     ("outcome", "o1", "officer-test")]  # a repeat stores and audits nothing
    inbound_row = rows(app, audit, action="inbound")[0]
    assert json.loads(inbound_row["detail"]) == {"port_code": "2402"}
    assert verified(app.extensions["southbound.store"])[2] is None


# --- the README's database role for the service ---------------------------------

def test_the_readme_role_appends_to_the_trail_but_cannot_rewrite_it(registry_path, tmp_path):
    from service import create_app
    from service.auth import create_token
    from tests.helpers.pg import pg_database, readme_service_role
    url, drop = pg_database()
    owner = opened(url)  # the owner migrates
    append(owner, 1, actor="owner")
    drop_role = None
    try:
        role_url, drop_role = readme_service_role(owner)
        app = create_app({"DATABASE_URL": role_url, "REGISTRY": str(registry_path),
                          "REPORT_DIR": str(tmp_path / "reports"), "TOKEN_CACHE_SECONDS": 0,
                          "LOG_LEVEL": "ERROR", "RATE_LIMIT_PER_MINUTE": 0})
        service = app.extensions["southbound.store"]
        headers = {"Authorization": f"Bearer {create_token(service, 'officer', 'booth')}"}
        client = app.test_client()
        assert client.post("/v1/crossings", json=inbound(), headers=headers).status_code == 201
        assert client.post("/v1/score", json=outbound(), headers=headers).status_code == 201
        assert client.post("/v1/crossings/o1/outcome", json={"inspected": False},
                           headers=headers).status_code == 201   # it may update crossings
        for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit",
                          "TRUNCATE audit", "DROP TRIGGER audit_no_delete ON audit",
                          "ALTER TABLE audit DISABLE TRIGGER ALL"):
            with pytest.raises(sa.exc.ProgrammingError,
                               match="permission denied|must be owner"):
                with service.engine.begin() as conn:
                    conn.execute(sa.text(statement))
        count, _, broken = verified(service)
        assert broken is None and count == 5  # the owner's, token, inbound, score, outcome
        service.engine.dispose()
    finally:
        owner.engine.dispose()
        drop()
        if drop_role is not None:
            drop_role()
