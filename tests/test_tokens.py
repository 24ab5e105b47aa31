"""Tokens expire, and an admin revokes one through the API (audited); the tokens table
of a store from before gains its expiry column on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from service.auth import TokenCache, create_token
from service.store import Store, audit, metadata, tokens
from southbound.cli import main
from tests.helpers.service import assert_error, rows


def test_an_expired_token_is_refused(app, client, monkeypatch):
    import service.auth as auth_module
    store = app.extensions["southbound.store"]
    token = create_token(store, "officer", "booth 1", expires_days=1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/model", headers=headers).status_code == 200
    later = auth_module.now_us() + 86_400 * 1_000_000 + 1
    monkeypatch.setattr(auth_module, "now_us", lambda: later)
    assert_error(client.get("/v1/model", headers=headers), 401, "unauthorized", "Authorization")


def test_a_cached_token_is_refused_once_it_expires(app, monkeypatch):
    import service.auth as auth_module
    store = app.extensions["southbound.store"]
    cache = TokenCache(3600)
    token = create_token(store, "analyst", "ana", expires_days=2)
    assert cache.lookup(store, token) == ("ana", "analyst")
    later = auth_module.now_us() + 2 * 86_400 * 1_000_000 + 1
    monkeypatch.setattr(auth_module, "now_us", lambda: later)
    assert cache.cached(auth_module.hash_token(token)) is None
    assert cache.lookup(store, token) is None


@pytest.mark.parametrize("days", [0, -1, 3654], ids=["zero", "negative", "past-ten-years"])
def test_an_expiry_out_of_range_is_refused(app, days):
    with pytest.raises(ValueError, match="expires 1 to 3653 days ahead"):
        create_token(app.extensions["southbound.store"], "officer", "x", expires_days=days)


def test_the_command_makes_tokens_that_expire(runner, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", url)
    made = runner.invoke(main, ["tokens", "create", "--role", "officer", "--name", "b",
                                "--expires-days", "7"])
    assert made.exit_code == 0 and "expiring in 7 days" in made.output, made.output
    default = runner.invoke(main, ["tokens", "create", "--role", "officer", "--name", "c"])
    assert "expiring in 90 days" in default.output
    bad = runner.invoke(main, ["tokens", "create", "--role", "officer", "--name", "d",
                               "--expires-days", "0"])
    assert bad.exit_code == 2
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            found = conn.execute(sa.select(tokens.c.name, tokens.c.created_at,
                                           tokens.c.expires_at).order_by(tokens.c.id)).all()
    finally:
        store.engine.dispose()
    day = 86_400 * 1_000_000
    assert [(n, (e - c) // day) for n, c, e in found] == [("b", 7), ("c", 90)]


def test_an_admin_revokes_a_token_through_the_api(app, client, auth):
    store = app.extensions["southbound.store"]
    app.extensions["southbound.tokens"] = TokenCache(3600)   # revoked here: refused at once
    officer = auth["officer"]
    assert client.get("/v1/model", headers=officer).status_code == 200    # cached
    officer_id = next(r["id"] for r in rows(app, tokens) if r["name"] == "officer-test")
    assert_error(client.delete(f"/v1/tokens/{officer_id}", headers=auth["analyst"]),
                 403, "forbidden")
    assert client.delete(f"/v1/tokens/{officer_id}", headers=auth["admin"]).status_code == 204
    assert_error(client.get("/v1/model", headers=officer), 401, "unauthorized", "Authorization")
    assert_error(client.delete(f"/v1/tokens/{officer_id}", headers=auth["admin"]),
                 409, "conflict", "token_id")
    for missing in (999, 2**31, 10**30):
        assert_error(client.delete(f"/v1/tokens/{missing}", headers=auth["admin"]),
                     404, "not_found", "token_id")
    revokes = [r for r in rows(app, audit) if r["action"] == "token_revoke"]
    assert [(r["actor"], r["target"]) for r in revokes] == [("admin-test", "officer-test")]
    assert json.loads(revokes[0]["detail"])["token_id"] == officer_id
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(tokens.c.revoked_at).where(
            tokens.c.id == officer_id)).scalar_one() is not None


def test_tokens_made_before_the_expiry_column_keep_working(database_url, registry_path,
                                                           tmp_path):
    """A store whose tokens table has no expires_at (migrations 1-5) gains it; its tokens
    never expire."""
    from service.auth import hash_token
    from service.store import MIGRATIONS, schema_version
    from tests.helpers.service import make_app
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        copy = table.to_metadata(old)
        if table.name == "tokens":
            copy._columns.remove(copy.c.expires_at)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        old.create_all(conn)
        for version, description, _ in MIGRATIONS[:5]:
            conn.execute(old.tables["schema_version"].insert().values(
                version=version, description=description, applied_at=0))
        conn.execute(old.tables["tokens"].insert().values(
            name="old", role="officer", token_hash=hash_token("sb_old"), created_at=0))
    engine.dispose()
    app = make_app(database_url, registry_path, tmp_path)
    try:
        response = app.test_client().get("/v1/model",
                                         headers={"Authorization": "Bearer sb_old"})
        assert response.status_code == 200
        assert [r["expires_at"] for r in rows(app, tokens)] == [None]
        assert max(r["version"] for r in rows(app, schema_version)) == MIGRATIONS[-1][0]
    finally:
        app.extensions["southbound.store"].engine.dispose()
