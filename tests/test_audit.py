"""Every change of what is served, and of who may call, is audited with an actor.

Through the command line (`train` registering a version, `models promote`, `rollback`,
`sign`, `export`, `report`, `score --out`, `tokens create/revoke`: the actor is the login of the
process, a name given with --actor only a claim kept beside it) and through the service
(activation); a hand-edited active.json is logged as such by the worker that picks
it up. Tokens are listed without their secret and a revoked one stops working within
the token cache time.
"""
from __future__ import annotations

import json
import logging
import time

import pytest
import sqlalchemy as sa

from models.registry import Registry
from service.store import audit
from southbound.cli import main


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", url)
    return url


def audit_rows(url):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(audit).order_by(audit.c.id))]
    engine.dispose()
    return rows


def login():
    import os
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def detail(row):
    return json.loads(row["detail"])


def test_every_change_of_the_model_in_service_from_the_command_line_is_audited(
        runner, tmp_path, store_url, world, trained, monkeypatch):
    registry = tmp_path / "registry"
    reg = Registry(registry)
    for name in ("USER", "LOGNAME"):  # anyone can set these: they name nobody
        monkeypatch.setenv(name, "mallory")
    # train on an empty registry: its model is registered and becomes active
    small = ["--data", str(world[0]), "--registry", str(registry)]
    result = runner.invoke(main, ["train", *small, "--actor", "ana"])
    assert result.exit_code == 0, result.output
    first = reg.active_version()
    second = reg.save(*trained)
    result = runner.invoke(main, ["models", "promote", second, "--registry", str(registry),
                                  "--actor", "bo"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["models", "rollback", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    rows = [r for r in audit_rows(store_url) if r["action"] in ("register", "activate",
                                                               "rollback")]
    assert [(r["action"], r["target"]) for r in rows] == [
        ("register", first), ("activate", first), ("activate", second), ("rollback", first)]
    # the actor is the login of the process, whatever --actor or $USER say; a name given
    # with --actor is kept as a claim
    assert {r["actor"] for r in rows} == {login()}
    assert [detail(r).get("on_behalf_of") for r in rows] == ["ana", "ana", "bo", None]
    assert detail(rows[0])["signed"] is True
    assert detail(rows[2])["previous"] == first
    # the registry's own event log carries the login too
    events = [json.loads(line) for line in (registry / "events.jsonl").read_text().splitlines()]
    assert events[-2]["actor"] == events[-1]["actor"] == login()


def test_giving_your_own_login_as_actor_claims_nothing(runner, tmp_path, store_url, trained):
    reg = Registry(tmp_path / "registry")
    reg.save(*trained)
    second = reg.save(*trained)
    result = runner.invoke(main, ["models", "promote", second, "--registry", str(reg.root),
                                  "--actor", login()])
    assert result.exit_code == 0, result.output
    row = audit_rows(store_url)[-1]
    assert (row["action"], row["actor"]) == ("activate", login())
    assert "on_behalf_of" not in detail(row)


def test_keys_signing_exporting_and_reporting_are_audited(runner, tmp_path, store_url, world,
                                                    registry_path, trained):
    result = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    kid = result.output.split()[3].rstrip(":")
    again = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys"),
                                 "--if-missing"])
    assert again.exit_code == 0 and "already in" in again.output  # no key made, no row
    unsigned = Registry(registry_path, private_key=None).save(*trained)
    result = runner.invoke(main, ["models", "sign", unsigned, "--registry", str(registry_path),
                                  "--actor", "ana"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(main, ["models", "sign", unsigned, "--registry", str(registry_path)])
    assert again.exit_code == 0 and "already signed" in again.output  # no change, no row
    out = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--since", "2025-01-01", "--until", "2025-02-01",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--registry", str(registry_path), "--data",
                                  str(world[0]), "--out", str(page), "--actor", "bo"])
    assert result.exit_code == 0, result.output
    rows = audit_rows(store_url)
    assert [(r["action"], r["actor"], r["target"]) for r in rows] == [
        ("key_create", login(), kid), ("sign", login(), unsigned), ("export", login(), "export.csv"),
        ("report", login(), Registry(registry_path).active_version())]
    key, sign, export, report = map(detail, rows)
    assert key["public_key"] == str((tmp_path / "keys" / "signing.pub").resolve())
    assert sign["on_behalf_of"] == "ana" and sign["key_id"]
    assert export.pop("client")  # the host the file was written on
    assert export == {"out": str(out.resolve()), "since": "2025-01-01", "until": "2025-02-01",
                      "rows": 0, "via": "southbound export"}
    assert report["on_behalf_of"] == "bo" and report["out"] == str(page.resolve())
    assert report["source"] == str(world[0]) and report["rows"] > 0


def test_a_scored_file_is_audited_before_it_is_written(runner, tmp_path, store_url, world,
                                                       registry_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(main, ["score", "--data", str(world[0]), "--registry",
                                  str(registry_path), "--out", str(out), "--actor", "cy"])
    assert result.exit_code == 0, result.output
    written = len(out.read_text().splitlines()) - 1
    (row,) = [r for r in audit_rows(store_url) if r["action"] == "score_file"]
    assert (row["actor"], row["target"]) == (login(), "scores.csv")
    assert row["model_version"] == Registry(registry_path).active_version()
    shown = detail(row)
    assert shown.pop("client")
    assert shown == {"out": str(out.resolve()), "logs": [str(world[0])], "rows": written,
                     "referred": shown["referred"], "via": "southbound score",
                     "on_behalf_of": "cy"}
    assert 0 < shown["referred"] < written


def test_an_export_with_the_store_unreachable_writes_nothing(runner, tmp_path, monkeypatch,
                                                            registry_path, world):
    from tests.helpers.browser import free_port
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL",
                       f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    out, page = tmp_path / "export.csv", tmp_path / "report.html"
    result = runner.invoke(main, ["export", "--since", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 1 and "the database cannot be reached" in result.output
    result = runner.invoke(main, ["report", "--registry", str(registry_path), "--data",
                                  str(world[0]), "--out", str(page)])
    assert result.exit_code == 1 and "the database cannot be reached" in result.output
    scores = tmp_path / "scores.csv"
    result = runner.invoke(main, ["score", "--registry", str(registry_path), "--data",
                                  str(world[0]), "--out", str(scores)])
    assert result.exit_code == 1 and "the database cannot be reached" in result.output
    assert not out.exists() and not page.exists() and not scores.exists()


def test_a_promotion_with_the_store_unreachable_changes_nothing(runner, tmp_path, trained,
                                                                monkeypatch):
    from tests.helpers.browser import free_port
    reg = Registry(tmp_path / "registry")
    first = reg.save(*trained)
    second = reg.save(*trained)
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL",
                       f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    result = runner.invoke(main, ["models", "promote", second, "--registry", str(reg.root)])
    assert result.exit_code == 1
    assert result.output.startswith("error: the database cannot be reached")
    assert "Traceback" not in result.output
    assert reg.active_version() == first


def test_tokens_are_listed_without_secrets_and_a_revoked_one_stops_working(
        runner, tmp_path, store_url, registry_path):
    from service import create_app
    result = runner.invoke(main, ["tokens", "create", "--role", "officer", "--name", "booth 3"])
    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    listing = runner.invoke(main, ["tokens", "list"])
    assert listing.exit_code == 0 and "booth 3" in listing.output and "officer" in listing.output
    assert token not in listing.output and token[3:12] not in listing.output
    header, line = listing.output.splitlines()[:2]
    assert header.split() == ["id", "role", "created", "(UTC)", "expires", "(UTC)", "revoked",
                              "(UTC)", "name"]
    assert line.split()[-1] == "3" and line.split()[-2] == "booth" and line.split()[4] == "-"
    assert line.split()[3] > line.split()[2]      # the default expiry: 90 days ahead
    token_id = int(line.split()[0])

    cache = 0.5
    app = create_app({"DATABASE_URL": store_url, "REGISTRY": str(registry_path),
                      "TOKEN_CACHE_SECONDS": cache, "LOG_LEVEL": "ERROR",
                      "RATE_LIMIT_PER_MINUTE": 0})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/model", headers=headers).status_code == 200  # cached now
    result = runner.invoke(main, ["tokens", "revoke", str(token_id), "--actor", "sec"])
    assert result.exit_code == 0, result.output
    revoked_at = time.monotonic()
    while client.get("/v1/model", headers=headers).status_code != 401:
        assert time.monotonic() - revoked_at < cache + 2, "still accepted past the cache time"
        time.sleep(0.05)
    time.sleep(cache + 0.1)
    assert client.get("/v1/model", headers=headers).status_code == 401  # and stays refused
    again = runner.invoke(main, ["tokens", "revoke", str(token_id)])
    assert again.exit_code == 1 and "already revoked" in again.output
    missing = runner.invoke(main, ["tokens", "revoke", "999"])
    assert missing.exit_code == 1 and "no token with id 999" in missing.output
    listed = runner.invoke(main, ["tokens", "list"]).output
    assert listed.splitlines()[1].split()[4] != "-"      # revoked: its date
    rows = [r for r in audit_rows(store_url) if r["action"] == "token_revoke"]
    assert [(r["actor"], detail(r).get("on_behalf_of")) for r in rows] == [(login(), "sec")]
    app.extensions["southbound.store"].engine.dispose()


def test_a_hand_edited_active_json_is_logged_as_such(tmp_path, trained):
    from scoring.policy import PolicyConfig
    from service.holder import ModelHolder

    reg = Registry(tmp_path / "registry")
    first = reg.save(*trained)
    second = reg.save(*trained)
    holder = ModelHolder(reg.root, PolicyConfig(), window=100, check_seconds=0)
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger("southbound.service")
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    level = logging.getLogger("southbound").level
    logging.getLogger("southbound").setLevel(logging.INFO)  # an app may have set ERROR
    try:
        holder.load_active()
        reg.promote(second, actor="ana")  # a recorded promotion: no warning
        assert holder.current().version == second
        assert not any("no promotion recorded" in m for m in seen)
        (reg.root / "active.json").write_text(json.dumps({"version": first, "history": []}))
        assert holder.current().version == first
    finally:
        logger.removeHandler(handler)
        logging.getLogger("southbound").setLevel(level)
    assert any(f"active.json names model {first} but no promotion recorded it" in m
               for m in seen), seen
