"""The service's store: SQLAlchemy Core on SQLite (WAL) by default, PostgreSQL by URL.

Tables: crossings (both directions, the contract's columns, outcomes as they are
recorded), scores (one per scored crossing: score, decision, reasons, the
feature vector, the model and policy in force), shadow_scores (the challenger's
score of a crossing scored while one was in shadow), outcomes (every outcome record),
tokens (hashes only), lookouts, and audit (append-only). ``schema_version``
records which migrations ran; :data:`MIGRATIONS` is the ordered list.

Every write that the API acknowledges is committed in one transaction before the
reply.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import threading
import time
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event

from scoring.contract import COLUMNS, TEXT_KINDS
from scoring.features import history_select, history_values, unseen_history

metadata = sa.MetaData()
#: the contract's integer kinds: stored in integer columns (migration 2)
INTEGER_KINDS = ("int", "count", "positive")
#: the largest magnitude an integer column holds (the API refuses more)
INT_MAX = 2**31 - 1


def _contract_columns():
    cols = []
    for column in COLUMNS:
        if column.name == "crossing_id":
            cols.append(sa.Column("crossing_id", sa.String(128), primary_key=True))
        elif column.name == "crossed_at":
            cols.append(sa.Column("crossed_at", sa.BigInteger, nullable=False))
            cols.append(sa.Column("utc_offset_min", sa.Integer, nullable=False))
        elif column.kind in TEXT_KINDS:
            cols.append(sa.Column(column.name, sa.String(128), nullable=not column.required))
        elif column.kind == "bool":
            cols.append(sa.Column(column.name, sa.SmallInteger))
        elif column.kind in INTEGER_KINDS:
            cols.append(sa.Column(column.name, sa.Integer))
        else:
            cols.append(sa.Column(column.name, sa.Float))
    return cols


INTEGER_COLUMNS = tuple(c.name for c in COLUMNS if c.kind in INTEGER_KINDS)

crossings = sa.Table(
    "crossings", metadata, *_contract_columns(),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_crossings_plate_time", "plate_id", "crossed_at"),
    sa.Index("ix_crossings_carrier_time", "carrier_id", "crossed_at"),
    sa.Index("ix_crossings_time", "crossed_at"),
)
scores = sa.Table(
    "scores", metadata,
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              primary_key=True),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
    sa.Column("port_code", sa.String(8), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("risk_band", sa.String(32), nullable=False),
    sa.Column("refer", sa.Boolean, nullable=False),
    sa.Column("referral_source", sa.String(16), nullable=False),
    sa.Column("selection_probability", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Index("ix_scores_port_time", "port_code", "scored_at"),
)
outcomes = sa.Table(
    "outcomes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              nullable=False, index=True),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("inspected", sa.SmallInteger, nullable=False),
    sa.Column("seizure", sa.SmallInteger),
    sa.Column("firearms_seized", sa.Integer),
    sa.Column("rounds_seized", sa.Integer),
    sa.Column("currency_seized_usd", sa.Float),
)
tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger),
)
lookouts = sa.Table(
    "lookouts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plate_id", sa.String(128), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.BigInteger),
)
audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(128)),
    sa.Column("model_version", sa.String(64)),
    sa.Column("policy_version", sa.String(64)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_target", "target"),
)
shadow_scores = sa.Table(
    "shadow_scores", metadata,
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              primary_key=True),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
    sa.Column("port_code", sa.String(8), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("would_refer", sa.Boolean, nullable=False),
    sa.Index("ix_shadow_scores_model_time", "model_version", "scored_at"),
)
schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)


def _initial(conn):
    metadata.create_all(conn, tables=[crossings, scores, outcomes, tokens, lookouts, audit])


def _integer_columns(conn):
    """The contract's integer columns, once float, become integers (rows keep their values;
    a value no 32-bit integer holds, never accepted by the contract's checks, becomes NULL)."""
    fits = f"abs({{0}}) <= {INT_MAX}"
    for table in (crossings, outcomes):
        for name in INTEGER_COLUMNS:
            if name not in table.c:
                continue
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(
                    f"ALTER TABLE {table.name} ALTER COLUMN {name} TYPE INTEGER USING "
                    f"CASE WHEN {fits.format(name)} THEN round({name})::integer END"))
                continue
            # SQLite cannot change a column's type: a new column takes the values
            temp = f"{name}__int"
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {temp} INTEGER"))
            conn.execute(sa.text(f"UPDATE {table.name} SET {temp} = CASE WHEN "
                                 f"{fits.format(name)} THEN CAST(round({name}) AS INTEGER) END"))
            conn.execute(sa.text(f"ALTER TABLE {table.name} DROP COLUMN {name}"))
            conn.execute(sa.text(f"ALTER TABLE {table.name} RENAME COLUMN {temp} TO {name}"))


def _port_time_index(conn):
    """The port's recent crossings (port-keyed history features) read from an index alone:
    (port_code, crossed_at) bounds the rows, direction rides along so that no table row
    is read (a 7-day window at the busiest port of a 0.005-scale world: 0.6 ms without
    it, 0.2 ms with it, on SQLite)."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_crossings_port_time "
                         "ON crossings (port_code, crossed_at, direction)"))


def _shadow_scores(conn):
    """The challenger's scores, one per crossing scored while it was in shadow; never
    joined into an officer's view or an export."""
    shadow_scores.create(conn, checkfirst=True)


#: (version, description, step); append new steps, never edit applied ones
MIGRATIONS = (
    (1, "crossings, scores, outcomes, tokens, lookouts, audit", _initial),
    (2, "the contract's integer columns as integers, not floats", _integer_columns),
    (3, "index of crossings by port and time (with direction)", _port_time_index),
    (4, "shadow_scores: the challenger's score of each crossing", _shadow_scores),
)


def now_us():
    return time.time_ns() // 1000


#: the PostgreSQL advisory lock key that migrations take turns on
MIGRATION_LOCK = 0x50B0_0001

#: seconds a PostgreSQL connection attempt may wait for the server before giving up
#: (a 503), so a hung server does not hold a worker until gunicorn kills it
PG_CONNECT_TIMEOUT = 3


class StoreUnavailable(Exception):
    """The database cannot be reached; the API answers 503."""


class Prepared:
    """A statement compiled once for the engine's dialect and run on the driver's cursor.

    The hot path (history, inserts) skips building, hashing and executing SQLAlchemy
    expressions per request; it still runs inside the SQLAlchemy connection's
    transaction, and driver errors come back as SQLAlchemy's own (IntegrityError,
    OperationalError), as from any other statement. Values must be the driver's
    own types.
    """

    def __init__(self, engine, statement):
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.defaults = dict(compiled.params)
        self.positional = compiled.positional
        self.names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        self.dbapi = engine.dialect.dbapi
        # every parameter NULL unless given, so that run() can index without .get()
        self.defaults = {**dict.fromkeys(self.names), **self.defaults}

    def run(self, conn, params):
        """Execute with ``params`` (a parameter not given is NULL); return the cursor."""
        values = {**self.defaults, **params}
        args = (tuple(map(values.__getitem__, self.names)) if self.positional
                else {n: values[n] for n in self.names})
        if not conn.in_transaction():
            conn.begin()
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
        except self.dbapi.Error as exc:
            cursor.close()
            raise sa.exc.DBAPIError.instance(self.sql, args, exc, self.dbapi.Error) from exc
        return cursor

    def one(self, conn, params):
        """The single row of a query, as a dict."""
        cursor = self.run(conn, params)
        try:
            names = [d[0] for d in cursor.description]
            return dict(zip(names, cursor.fetchone()))
        finally:
            cursor.close()

    def first(self, conn, params):
        """The first row of a query as a tuple, or None."""
        cursor = self.run(conn, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def execute(self, conn, params):
        self.run(conn, params).close()


def _insert(table, skip=("id",)):
    return table.insert().values({c.name: sa.bindparam(c.name, type_=c.type)
                                  for c in table.c if c.name not in skip})


class Store:
    """Connections and the queries the API needs.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///var/southbound.db`` or
        ``postgresql+psycopg://user@host/db``.
    sqlite_synchronous : str
        SQLite's ``synchronous`` pragma under WAL: FULL survives power loss,
        NORMAL survives a crash of the process.
    """

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
        if self.dialect == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self.sql = {
            "plate": Prepared(self.engine, history_select(crossings, "plate")),
            "carrier": Prepared(self.engine, history_select(crossings, "carrier")),
            "port": Prepared(self.engine, history_select(crossings, "port")),
            "insert_crossing": Prepared(self.engine, _insert(crossings)),
            "insert_score": Prepared(self.engine, _insert(scores)),
            "insert_shadow": Prepared(self.engine, _insert(shadow_scores)),
            "insert_audit": Prepared(self.engine, _insert(audit)),
            "lookout": Prepared(self.engine, sa.select(lookouts.c.id).where(
                lookouts.c.plate_id == sa.bindparam("plate_id", type_=sa.String),
                lookouts.c.deleted_at.is_(None),
                lookouts.c.expires_at > sa.bindparam("at", type_=sa.BigInteger)).limit(1)),
        }

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

    # -- schema --------------------------------------------------------------

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
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": MIGRATION_LOCK})
            schema_version.create(conn, checkfirst=True)
            done = {r.version for r in conn.execute(sa.select(schema_version.c.version))}
            for version, description, step in MIGRATIONS:
                if version not in done:
                    step(conn)
                    conn.execute(schema_version.insert().values(
                        version=version, description=description, applied_at=now_us()))
        return MIGRATIONS[-1][0]

    def ping(self):
        """Raise StoreUnavailable unless a trivial query answers (and the schema is current)."""
        try:
            self.ensure_schema()
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc).splitlines()[0]) from None

    # -- reads -----------------------------------------------------------------

    def history(self, conn, record):
        """Point-in-time history features of one crossing, from earlier stored rows
        (the plate's, the carrier's and the port's)."""
        t, port = record["crossed_at"], record["port_code"]
        row = self.sql["plate"].one(conn, {"key": record["plate_id"], "port": port, "t": t})
        out = history_values("plate", row, t, port)
        if record.get("carrier_id"):
            row = self.sql["carrier"].one(conn, {"key": record["carrier_id"], "t": t})
            out.update(history_values("carrier", row, t, port))
        else:
            out.update(unseen_history("carrier"))
        row = self.sql["port"].one(conn, {"key": port, "t": t})
        out.update(history_values("port", row, t, port))
        return out

    def crossing(self, conn, crossing_id):
        """The stored crossing, its score and its outcome records, or None."""
        row = conn.execute(sa.select(crossings).where(crossings.c.crossing_id == crossing_id)
                           ).mappings().first()
        if row is None:
            return None
        score = conn.execute(sa.select(scores).where(scores.c.crossing_id == crossing_id)
                             ).mappings().first()
        records = conn.execute(sa.select(outcomes).where(outcomes.c.crossing_id == crossing_id)
                               .order_by(outcomes.c.id)).mappings().all()
        return dict(row), (dict(score) if score else None), [dict(r) for r in records]

    @staticmethod
    def shadow_score(conn, crossing_id):
        """The challenger's stored score of a crossing, or None."""
        row = conn.execute(sa.select(shadow_scores).where(
            shadow_scores.c.crossing_id == crossing_id)).mappings().first()
        return dict(row) if row else None

    def shadow_history(self, champion, challenger, since=None):
        """Every crossing scored by ``champion`` with ``challenger`` in shadow (crossed at
        or after ``since``, UTC µs), as :data:`training.compare.COLUMNS` plus
        ``referred``: a DataFrame for :func:`training.compare.compare`."""
        import pandas as pd
        c, s, h = crossings.c, scores.c, shadow_scores.c
        query = (sa.select(s.crossing_id, s.port_code, s.risk_score.label("champion"),
                           h.risk_score.label("challenger"), s.risk_score.label("mu"),
                           s.selection_probability, s.refer.label("referred"), c.inspected,
                           c.seizure, c.firearms_seized, c.rounds_seized,
                           c.currency_seized_usd)
                 .join(shadow_scores, h.crossing_id == s.crossing_id)
                 .join(crossings, c.crossing_id == s.crossing_id)
                 .where(s.model_version == champion, h.model_version == challenger)
                 .order_by(c.crossed_at, s.crossing_id))
        if since is not None:
            query = query.where(c.crossed_at >= since)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=[col.name for col in query.selected_columns])
        frame["referred"] = frame["referred"].astype(bool)
        inspected = pd.to_numeric(frame.pop("inspected"), errors="coerce")
        # a label of the logged design: the service referred it and secondary looked
        frame["labelled"] = frame["referred"] & (inspected == 1)
        for name in ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        return frame

    def recent_scores(self, conn, port, limit):
        """The port's latest risk scores, newest first."""
        rows = conn.execute(sa.select(scores.c.risk_score).where(scores.c.port_code == port)
                            .order_by(scores.c.scored_at.desc()).limit(limit))
        return [r[0] for r in rows]

    def has_lookout(self, conn, plate_id, at):
        """Whether the plate is on a lookout that has not expired or been removed."""
        return self.sql["lookout"].first(conn, {"plate_id": plate_id, "at": at}) is not None

    # -- writes (the caller owns the transaction) ------------------------------

    def insert_crossing(self, conn, record):
        values = {k: _sql_value(k, v) for k, v in record.items() if k in crossings.c}
        values["received_at"] = now_us()
        self.sql["insert_crossing"].execute(conn, values)

    def insert_score(self, conn, values):
        self.sql["insert_score"].execute(conn, values)

    def insert_shadow(self, conn, values):
        self.sql["insert_shadow"].execute(conn, values)

    @staticmethod
    def record_outcome(conn, crossing_id, outcome, actor):
        outcome = {k: _sql_value(k, v) for k, v in outcome.items()}
        conn.execute(outcomes.insert().values(crossing_id=crossing_id, recorded_at=now_us(),
                                              actor=actor, **{k: v for k, v in outcome.items()
                                                              if k in outcomes.c}))
        conn.execute(crossings.update().where(crossings.c.crossing_id == crossing_id)
                     .values(**outcome))

    def audit(self, conn, actor, action, target=None, model_version=None, policy_version=None,
              **detail):
        self.sql["insert_audit"].execute(conn, dict(
            at=now_us(), actor=actor, action=action, target=target,
            model_version=model_version, policy_version=policy_version,
            detail=json.dumps(detail, sort_keys=True, default=str)))


_BOOLS = frozenset(c.name for c in COLUMNS if c.kind == "bool")


def _sql_value(name, value):
    """A canonical value as the column stores it: NULL for NaN, 1/0 for booleans, ints
    for the contract's integers."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if (name in _BOOLS or name in INTEGER_COLUMNS) and value is not None:
        return int(value)
    return value
