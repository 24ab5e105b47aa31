"""Every file the product writes with crossings, decisions or keys in it is its owner's
alone (0600), under a permissive umask too (issue 26, item 5: the SQLite file, its WAL,
exports and report pages were 0644, and another local user copied the database)."""
import os
import stat

import pandas as pd
import pytest

from southbound.cli import main
from tests.helpers.service import outbound


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def permissive_umask():
    """0o022, the usual default: what the product creates would be 0644 without care."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def database_url(tmp_path):
    """SQLite: PostgreSQL's files are the server's."""
    return f"sqlite:///{tmp_path / 'southbound.db'}"


def test_the_store_its_wal_and_the_exports_are_the_owners_alone(
        permissive_umask, app, client, auth, runner, tmp_path, database_url, monkeypatch):
    answer = client.post("/v1/score", headers=auth["officer"], json=outbound(1))
    assert answer.status_code == 201, answer.json
    database = tmp_path / "southbound.db"
    files = [database, tmp_path / "southbound.db-wal", tmp_path / "southbound.db-shm",
             tmp_path / "southbound.db.writelock"]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}

    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    (tmp_path / "old.csv").write_text("left by someone\n")
    os.chmod(tmp_path / "old.csv", 0o644)   # an earlier export, written over: narrowed
    for name in ("export.csv", "export.parquet", "old.csv"):
        out = tmp_path / name
        result = runner.invoke(main, ["export", "--since", "2025-01-01", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert mode(out) == 0o600, name
    assert "crossing_id" in (tmp_path / "old.csv").read_text()


def test_tables_the_commands_write_are_the_owners_alone(permissive_umask, tmp_path):
    """Scores and rejects (``write_table``, ``write_rejects``), by each of write_csv's paths."""
    from southbound.outputs import write_rejects, write_table
    frame = pd.DataFrame({"crossing_id": ["X1", "X2"], "refer": [True, False],
                          "risk_score": [0.5, 0.1]})
    odd = pd.DataFrame({"a": [object(), None]})   # a type left to pandas
    for name, table in (("s.csv", frame), ("s.parquet", frame), ("odd.csv", odd)):
        write_table(table, tmp_path / name)
        assert mode(tmp_path / name) == 0o600, name
    side = write_rejects(frame, tmp_path / "log.csv", tmp_path / "rejects")
    assert mode(side) == 0o600


def test_report_pages_are_the_owners_alone(permissive_umask, app, tmp_path):
    """Pages the service's builder writes, their error answers and lock files."""
    from service import report_jobs
    root = tmp_path / "reports"
    root.mkdir()
    report_jobs._atomic_write(root / "v__none__2025-05-01.html", b"<!DOCTYPE html>")
    report_jobs._write_error(root / "v2__none__2025-05-01.error.json", 409, "artifact_refused",
                             "refused", "version")
    jobs = app.extensions["southbound.reports"]
    jobs.start("v3__none__2025-05-01", "no-such-version", None)   # its builder fails fast
    assert jobs.wait(60)
    written = sorted(p for p in [*root.iterdir(), *jobs.root.iterdir()] if p.is_file())
    assert {p.name for p in written} >= {"v__none__2025-05-01.html",
                                          "v2__none__2025-05-01.error.json",
                                          "v3__none__2025-05-01.lock"}
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}


def test_the_report_command_writes_its_page_for_the_owner(permissive_umask, runner,
                                                           registry_path, world, tmp_path,
                                                           monkeypatch):
    import training.report
    monkeypatch.setattr(training.report, "build_report", lambda *a, **k: "<!DOCTYPE html>")
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--registry", str(registry_path),
                                  "--data", str(world[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "<!DOCTYPE html>" and mode(out) == 0o600


def test_the_registry_and_the_private_key_are_the_owners_alone(permissive_umask, runner,
                                                               trained, tmp_path):
    from models.registry import Registry
    registry = Registry(tmp_path / "registry")
    version = registry.save(*trained)            # the first model: activated, an event
    root = tmp_path / "registry"
    for path in (root / "events.jsonl", root / "active.json",
                 root / "versions" / version / "model.joblib",
                 root / "versions" / version / "manifest.json"):
        assert mode(path) == 0o600, path
    result = runner.invoke(main, ["keys", "create", "--dir", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    assert mode(tmp_path / "keys" / "signing.key") == 0o600
    assert mode(tmp_path / "keys" / "signing.pub") == 0o644   # public on purpose


def test_a_file_of_ours_left_wider_is_narrowed_when_appended_to(permissive_umask, tmp_path):
    """``events.jsonl`` written 0644 by an earlier version becomes 0600 at its next line."""
    from models.files import append_line
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "old"}\n')
    os.chmod(events, 0o644)
    append_line(events, {"event": "new"})
    assert mode(events) == 0o600 and len(events.read_text().splitlines()) == 2
