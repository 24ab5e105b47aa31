"""Retention: crossings older than a cutoff removed with every row that refers to them.

The tables purged are ``crossings`` and every table with a foreign key to it (scores with
their feature vectors, outcomes, shadow scores), read from the tables' declarations so that
a table added later is purged with them. Children go first, so no foreign key is ever
violated. The audit trail, tokens and lookouts are not crossings and are never touched:
the audit trail has its own retention (:mod:`service.store.audit_retention`), and a purge
writes one row to it, in the transaction of the delete.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from contextlib import contextmanager

import sqlalchemy as sa

from scoring.features.catalog import HISTORY_BY_NAME
from scoring.features.history_sql import base_columns
from scoring.features.spec import ENTITY_COLUMN
from service.store.tables import BASE_LOCK, crossings, metadata


def purged_tables():
    """The tables a purge deletes from, children first and ``crossings`` last."""
    children = [table for table in metadata.sorted_tables
                if any(fk.column.table is crossings for fk in table.foreign_keys)]
    return [*reversed(children), crossings]


def _old(cutoff):
    """The keys of the crossings before ``cutoff`` (UTC µs)."""
    return sa.select(crossings.c.crossing_id).where(crossings.c.crossed_at < cutoff)


def _where(table, cutoff):
    if table is crossings:
        return crossings.c.crossed_at < cutoff
    return table.c.crossing_id.in_(_old(cutoff))


def count(conn, cutoff):
    """How many rows of each purged table refer to crossings before ``cutoff``
    (``{table name: rows}``, in the order they would be deleted)."""
    return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)
                                     .where(_where(table, cutoff))).scalar_one()
            for table in purged_tables()}


def delete(conn, cutoff):
    """Delete the crossings before ``cutoff`` (UTC µs) and their rows in every table that
    refers to them, in the caller's transaction; return ``{table name: rows deleted}``.

    On SQLite the deleted content is overwritten in the file (``secure_delete``), not only
    marked free, so that a copy of the file taken later does not hold it. The rows kept
    first lose the deleted rows from the base aggregates they keep (:func:`forget_bases`).
    """
    forget_bases(conn, cutoff)
    with secure_delete(conn):
        return {table.name: conn.execute(table.delete().where(_where(table, cutoff))).rowcount
                for table in purged_tables()}


def forget_bases(conn, cutoff):
    """Take the crossings before ``cutoff`` out of the aggregates of each ``below`` spec's
    base that the rows kept keep (:data:`~service.store.tables.BASE_COLUMNS`), as if they
    had never been stored: each is earlier than every row kept, so a kept row of its
    entity loses it from ``valued``, and from ``alike`` when their octaves are within one.
    Counted per entity and octave, then one UPDATE per entity and per (entity, octave)."""
    # no crossing is stored meanwhile: on PostgreSQL the lock that storing one takes, on
    # SQLite the write lock
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(BASE_LOCK)))
    c = crossings.c
    for name, columns in base_columns().items():
        spec = HISTORY_BY_NAME[name]
        entity = c[ENTITY_COLUMN[spec.entity]]
        purged = defaultdict(Counter)   # entity: {octave: valued rows purged}
        for key, octave, n in conn.execute(
                sa.select(entity, c.value_octave, sa.func.count())
                .where(c.crossed_at < cutoff, entity.is_not(None), c.value_octave.is_not(None),
                       *([c.direction == spec.direction] if spec.direction else []))
                .group_by(entity, c.value_octave)):
            purged[key][octave] = n
        if not purged:
            continue
        valued, alike = c[columns["valued"]], c[columns["alike"]]
        kept = sa.and_(entity == sa.bindparam("key_"), c.crossed_at >= cutoff)
        conn.execute(crossings.update().where(kept, valued.is_not(None))
                     .values({valued: valued - sa.bindparam("n")}),
                     [{"key_": key, "n": sum(n.values())} for key, n in purged.items()])
        conn.execute(crossings.update()
                     .where(kept, c.value_octave == sa.bindparam("octave"), alike.is_not(None))
                     .values({alike: alike - sa.bindparam("n")}),
                     [{"key_": key, "octave": o, "n": sum(n[o + step] for step in (-1, 0, 1))}
                      for key, n in purged.items()
                      for o in sorted({o + step for o in n for step in (-1, 0, 1)})])


@contextmanager
def secure_delete(conn):
    """On SQLite, rows deleted meanwhile are overwritten in the file, not only marked free;
    elsewhere nothing changes."""
    if conn.dialect.name != "sqlite":
        yield
        return
    # a connection setting, put back after (a build may default to it on)
    before = conn.exec_driver_sql("PRAGMA secure_delete").scalar_one()
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {int(before)}")
