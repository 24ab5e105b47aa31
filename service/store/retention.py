"""Retention: crossings older than a cutoff removed with every row that refers to them.

The tables purged are ``crossings`` and every table with a foreign key to it (scores with
their feature vectors, outcomes, shadow scores), read from the tables' declarations so that
a table added later is purged with them. Children go first, so no foreign key is ever
violated. The audit trail, tokens and lookouts are not crossings and are never touched:
the audit trail has its own retention (:mod:`service.store.audit_retention`), and a purge
writes one row to it, in the transaction of the delete.
"""
from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from service.store.tables import crossings, metadata


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
    marked free, so that a copy of the file taken later does not hold it.
    """
    with secure_delete(conn):
        return {table.name: conn.execute(table.delete().where(_where(table, cutoff))).rowcount
                for table in purged_tables()}


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
