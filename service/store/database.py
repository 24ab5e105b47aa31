"""The store's database: the engine (SQLite in WAL, or PostgreSQL), one writer at a time
on SQLite, and the schema brought up to date once per process."""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event

from scoring.private import create_private
from service.store.migrations import MIGRATIONS, apply_pending

#: seconds a PostgreSQL connection attempt may wait for the server before giving up
#: (a 503), so a hung server does not hold a worker until gunicorn kills it
PG_CONNECT_TIMEOUT = 3


class StoreUnavailable(Exception):
    """The database cannot be reached; the API answers 503."""


class Database:
    """The engine, write transactions and migrations under :class:`~service.store.Store`
    (which takes the same parameters)."""

    def __init__(self, url, sqlite_synchronous="FULL"):
        self.url = url
        self.engine = sa.create_engine(
            url, pool_pre_ping=not url.startswith("sqlite"), future=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT}
            if url.startswith("postgresql") else {})
        self.dialect = self.engine.dialect.name
        self._lock_path = None
        self._lock_fd = None
        self._lock_pid = None
        self._thread_lock = threading.Lock()
        self._migrated = False
        database = self.engine.url.database
        if self.dialect == "sqlite" and database and database != ":memory:":
            self._lock_path = database + ".writelock"
            if os.path.isdir(os.path.dirname(os.path.abspath(database))):
                # 0600 before SQLite creates it; its WAL and shared-memory files take the
                # database file's mode
                create_private(database)
        if self.dialect == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

    @contextmanager
    def write(self, conn=None):
        """A write transaction, committed on leaving; on SQLite one writer at a time.

        SQLite's own busy handler sleeps in millisecond steps while another process
        holds the write lock; a blocking ``flock`` across the workers wakes the next
        writer as soon as the lock is free.
        """
        if conn is not None and conn.in_transaction():
            conn.commit()  # end the implicit read transaction before writing
        if self._lock_path is None:
            with self._transaction(conn) as active:
                yield active
            return
        with self._thread_lock:
            if self._lock_pid != os.getpid():  # opened after a fork, never inherited
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                self._lock_pid = os.getpid()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                with self._transaction(conn) as active:
                    yield active
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self, conn):
        """A transaction on ``conn`` (or a fresh connection), committed on leaving."""
        if conn is None:
            with self.engine.begin() as fresh:
                yield fresh
        else:
            with conn.begin():
                yield conn

    def ensure_schema(self):
        """Migrate once per process, at the first call that reaches the database.

        A worker that starts while the database is down serves 503 instead of failing
        to boot (gunicorn would shut the whole server down); the schema is brought up
        to date at the first request that finds the database back.
        """
        if not self._migrated:
            self.migrate()
            self._migrated = True

    def migrate(self):
        """Apply pending migrations; return the schema version.

        Workers starting together take turns (SQLite: the write lock; PostgreSQL: an
        advisory lock held to the end of the transaction), so each migration runs once
        and no worker fails on another's schema_version row.
        """
        with self.write() as conn:
            apply_pending(conn)
        return MIGRATIONS[-1][0]

    def ping(self):
        """Raise StoreUnavailable unless a trivial query answers (and the schema is current)."""
        try:
            self.ensure_schema()
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc).splitlines()[0]) from None
