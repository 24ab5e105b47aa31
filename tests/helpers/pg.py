"""PostgreSQL for tests: a fresh database on the machine's server, or a throwaway
cluster of a test's own (to stop, hang and restart)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.helpers.browser import free_port

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_database(template=None):
    """A fresh PostgreSQL database on the machine's server, empty or a copy of the
    database ``template`` (its name; no one may be connected to it); returns (url, drop)."""
    import sqlalchemy as sa
    name = "sb_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
        # a commit returns before its WAL reaches the disk (no test cuts the power); a
        # crash of the server could lose the last commits, never corrupt or reorder them
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def migrated_database():
    """A PostgreSQL database with every migration applied and no connection left open,
    to copy (``pg_database(template=name)``); returns (name, drop)."""
    from service.store import Store
    url, drop = pg_database()
    store = Store(url)
    try:
        store.migrate()
    finally:
        store.engine.dispose()
    return url.rsplit("/", 1)[1], drop


def children(pid):
    """Pids of a process's children (the gunicorn master's workers)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def pg_bin():
    """The newest PostgreSQL server binaries Debian installed (/usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = pg_bin()


def pg_missing():
    """Why a private cluster cannot be made here, or None."""
    for tool in ("initdb", "pg_ctl"):
        if not os.access(PG_BIN / tool, os.X_OK):
            return f"PostgreSQL server binaries not found ({PG_BIN / tool})"
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        if not shutil.which("runuser"):
            return "running as root without runuser to start PostgreSQL as its own user"
        import pwd
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to own a cluster"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


class PrivateCluster:
    """A throwaway PostgreSQL cluster on its own port and socket folder (never the
    machine's shared cluster): initdb, start, stop, freeze, remove."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="sb-faults-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port = free_port()
        self.as_owner = []
        self.frozen = None
        if os.geteuid() == 0:
            import pwd
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args, timeout=60):
        return subprocess.run([*self.as_owner, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, check=True)

    def init(self):
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")

    def start(self):
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections=40 -c shared_buffers=16MB")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-o", options,
                  "-w", "-t", "30", "start")

    def stop(self, mode="immediate"):
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")

    def postmaster(self):
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def freeze(self):
        """Hang the server: the postmaster stops (SIGSTOP; the kernel still completes
        TCP handshakes, nobody answers) and every client session is ended (SIGTERM,
        as pg_terminate_backend), so pooled connections fail and new ones wait."""
        self.frozen = self.postmaster()
        os.kill(self.frozen, signal.SIGSTOP)
        for pid in children(self.frozen):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: postgres postgres 127.0.0.1"):
                os.kill(pid, signal.SIGTERM)

    def thaw(self):
        if self.frozen is not None:
            os.kill(self.frozen, signal.SIGCONT)
            self.frozen = None

    def remove(self):
        try:
            self.thaw()
        except OSError:
            pass
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_role_sql():
    """The SQL of the README's role for the service, as statements."""
    text = README.read_text()
    start = text.index("    -- southbound: the service's role")
    block = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return [s.strip() for s in " ".join(block).split(";") if s.strip()]


def readme_service_role(owner):
    """The README's role for the service, made by the README's own SQL run as the owner of
    ``owner``'s store (migrated already); returns (the role's URL, drop), drop to be
    called after the database is dropped."""
    import sqlalchemy as sa
    role = "sb_service_" + uuid.uuid4().hex[:8]
    url = owner.engine.url

    def drop():
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
    try:
        with owner.engine.begin() as conn:
            for statement in readme_role_sql():
                conn.execute(sa.text(statement.replace("southbound_service", role)
                                     .replace("DATABASE southbound", f'DATABASE "{url.database}"')
                                     .replace(":", r"\:")))
    except Exception:
        with owner.engine.begin() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
        drop()
        raise
    return url.set(username=role, password="change me").render_as_string(False), drop


def drop_triggers(store):
    """What only the audit table's owner can do: take its triggers away."""
    import sqlalchemy as sa
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_no_update ON audit"))
            conn.execute(sa.text("DROP TRIGGER audit_no_delete ON audit"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_no_delete"))
