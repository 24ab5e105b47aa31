"""The store's migrations: the ordered steps and the schema_version rows that say
which ran."""
from __future__ import annotations

import itertools
from collections import Counter

import sqlalchemy as sa

from scoring.features.catalog import HISTORY_BY_NAME
from scoring.features.history_sql import base_columns, stored_octave
from scoring.features.spec import ENTITY_COLUMN
from service.store import audit_retention, chain
from service.store.tables import (BASE_COLUMNS, INT_MAX, INTEGER_COLUMNS, KEY_MAX, audit,
                                  crossings, lookouts, metadata, now_us, outcomes,
                                  schema_version, scores, shadow_scores, tokens)

#: the PostgreSQL advisory lock key that migrations take turns on
MIGRATION_LOCK = 0x50B0_0001


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


def _audit_chain(conn):
    """The audit trail append-only and tamper-evident: the hash chain's columns, the
    chain of the rows already there computed once, then the triggers that refuse UPDATE
    and DELETE (PostgreSQL: TRUNCATE too)."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("audit")}
    for name in ("prev_hash", "row_hash"):
        if name not in present:
            conn.execute(sa.text(f"ALTER TABLE audit ADD COLUMN {name} VARCHAR(64)"))
    chain.chain_existing(conn, audit)
    chain.install_triggers(conn)


def _wider_crossing_key(conn):
    """The crossings key wide enough for an inbound crossing set aside (an id of up to
    128 characters and :data:`~service.store.tables.ASIDE`); SQLite does not enforce
    lengths, PostgreSQL widens a VARCHAR without rewriting the table."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ALTER TABLE crossings ALTER COLUMN crossing_id "
                             f"TYPE VARCHAR({KEY_MAX})"))


def _token_expiry(conn):
    """Tokens can expire: ``expires_at`` (UTC µs), NULL for the tokens made before, which
    never expire until revoked."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("tokens")}
    if "expires_at" not in present:
        conn.execute(sa.text("ALTER TABLE tokens ADD COLUMN expires_at BIGINT"))


def _audit_purge(conn):
    """The audit trail's oldest rows removable by an audit purge, and only by it: the
    delete triggers replaced by ones that let through only the rows at or below the
    newest anchor's boundary (:mod:`service.store.audit_retention`); UPDATE and TRUNCATE
    stay refused."""
    audit_retention.install_triggers(conn)


def _row_bases(conn):
    """Each crossing keeps its value octave and its own aggregates of each ``below`` spec's
    base (:data:`~service.store.tables.BASE_COLUMNS`): the columns, then their values for
    the rows already stored, as :meth:`~service.store.queries.Store.insert_crossing` would
    have written them (by one pass over each entity's rows in time order, not a query per
    row)."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("crossings")}
    for name in BASE_COLUMNS:
        if name not in present:
            conn.execute(sa.text(f"ALTER TABLE crossings ADD COLUMN {name} INTEGER"))
    c = crossings.c
    octaves = [{"key_": key, "octave": stored_octave(value)} for key, value in conn.execute(
        sa.select(c.crossing_id, c.manifest_value_usd).where(c.manifest_value_usd > 0))]
    if octaves:
        conn.execute(crossings.update().where(c.crossing_id == sa.bindparam("key_"))
                     .values(value_octave=sa.bindparam("octave")), octaves)
    for name, columns in base_columns().items():
        spec = HISTORY_BY_NAME[name]
        entity = c[ENTITY_COLUMN[spec.entity]]
        rows = conn.execute(
            sa.select(c.crossing_id, entity, c.crossed_at, c.value_octave)
            .where(entity.is_not(None), entity != "",
                   *([c.direction == spec.direction] if spec.direction else []))
            .order_by(entity, c.crossed_at)).all()
        out = []
        for _, of_key in itertools.groupby(rows, key=lambda r: r[1]):
            seen = Counter()   # the entity's valued rows so far, by octave
            for _, same in itertools.groupby(of_key, key=lambda r: r[2]):
                same = list(same)   # rows at one time: none is before another
                out += [{"key_": key, "valued": sum(seen.values()),
                         "alike": None if octave is None else sum(seen[octave + step]
                                                                  for step in (-1, 0, 1))}
                        for key, _, _, octave in same]
                seen.update(octave for *_, octave in same if octave is not None)
        if out:
            conn.execute(crossings.update().where(c.crossing_id == sa.bindparam("key_"))
                         .values({columns["valued"]: sa.bindparam("valued"),
                                  columns["alike"]: sa.bindparam("alike")}), out)


#: (version, description, step); append new steps, never edit applied ones
MIGRATIONS = (
    (1, "crossings, scores, outcomes, tokens, lookouts, audit", _initial),
    (2, "the contract's integer columns as integers, not floats", _integer_columns),
    (3, "index of crossings by port and time (with direction)", _port_time_index),
    (4, "shadow_scores: the challenger's score of each crossing", _shadow_scores),
    (5, "audit: hash-chained, UPDATE and DELETE refused by triggers", _audit_chain),
    (6, "crossings: a key wide enough for an inbound crossing set aside", _wider_crossing_key),
    (7, "tokens: an expiry", _token_expiry),
    (8, "audit: the oldest rows removable under an anchor, by an audit purge only",
     _audit_purge),
    (9, "crossings: each row's value octave and its own aggregates of a below spec's base",
     _row_bases),
)


def apply_pending(conn):
    """Apply the pending migrations on ``conn``, in the caller's write transaction.

    On PostgreSQL an advisory lock held to the end of the transaction makes workers
    starting together take turns (on SQLite the caller's write lock does).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    schema_version.create(conn, checkfirst=True)
    done = {r.version for r in conn.execute(sa.select(schema_version.c.version))}
    for version, description, step in MIGRATIONS:
        if version not in done:
            step(conn)
            conn.execute(schema_version.insert().values(
                version=version, description=description, applied_at=now_us()))
