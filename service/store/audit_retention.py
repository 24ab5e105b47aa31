"""Retention of the audit trail: its oldest rows removed, the rest still verifiable.

An audit purge removes the rows written before a cutoff, and only a prefix of the chain
(the rows before the first one written at or after the cutoff, so a row written a
moment out of order never leaves a hole). In one transaction, holding the append lock,
it first appends an anchor: an ordinary chained row of action
:data:`~service.store.chain.ANCHOR` whose detail records the cutoff, how many rows go,
and the id and row_hash of the last of them (``last_removed_id``, ``last_removed_hash``);
then it deletes them. :func:`~service.store.chain.verify` starts the chain at the
newest anchor's ``last_removed_hash`` when the first row left links to it, so a purged
trail verifies and a trail cut at its start without an anchor does not.

The delete triggers of migration 8 (:func:`install_triggers`) let a DELETE through only
for rows at or below the newest anchor's ``last_removed_id`` (SQLite: a row trigger;
PostgreSQL: a statement trigger over the rows deleted, after the delete, which the
refusal undoes): after the purge commits those rows are gone, so nothing else can be
deleted, the anchor itself included (its id is above the rows it removed). UPDATE stays
refused, and TRUNCATE on PostgreSQL. On PostgreSQL only the table's owner (or a member of
its role) gets that far: an anchor written by a role that may only append (the
service's) opens no delete to anyone else.
"""
from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from scoring.contract import format_timestamp
from service.store import chain
from service.store.retention import secure_delete
from service.store.tables import audit

#: the newest anchor's last_removed_id, read by the triggers
_NEWEST_BOUNDARY = ("SELECT {value}{into} FROM audit WHERE action = '" + chain.ANCHOR + "' "
                    "ORDER BY id DESC LIMIT 1")
_DELETE_REFUSED = (f"{chain.REFUSED}: DELETE is refused (southbound audit purge removes the "
                   "oldest rows)")
_SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_no_delete",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN OLD.id > coalesce(("
    + _NEWEST_BOUNDARY.format(value="CAST(json_extract(detail, '$.last_removed_id') "
                                    "AS INTEGER)", into="")
    + f"), 0) BEGIN SELECT RAISE(ABORT, '{_DELETE_REFUSED}'); END",
]
_POSTGRESQL_TRIGGERS = [
    # one check per statement, over the rows it deleted (a row trigger would look the
    # anchor up once per row: benchmarks/README.md); UPDATE keeps a row trigger and
    # TRUNCATE its own, both on migration 5's function, which refuses everything
    # the function again (CREATE OR REPLACE): the migration stands on its own even on a
    # store whose migration 5 was recorded without being run
    chain.APPEND_ONLY_FUNCTION,
    "DROP TRIGGER IF EXISTS audit_no_update_delete ON audit",
    "DROP TRIGGER IF EXISTS audit_no_update ON audit",
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE OR REPLACE FUNCTION audit_purged_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE last_removed bigint; "
    "BEGIN "
    "IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), "
    "'MEMBER') THEN "
    + _NEWEST_BOUNDARY.format(value="(detail::jsonb ->> 'last_removed_id')::bigint",
                              into=" INTO last_removed") + "; "
    "IF NOT EXISTS (SELECT 1 FROM removed WHERE id > coalesce(last_removed, 0)) THEN "
    "RETURN NULL; END IF; "
    "END IF; "
    f"RAISE EXCEPTION '{_DELETE_REFUSED}' "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    "DROP TRIGGER IF EXISTS audit_no_delete ON audit",
    "CREATE TRIGGER audit_no_delete AFTER DELETE ON audit REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_purged_only()",
]


def install_triggers(conn):
    """The delete trigger that lets through only the rows an audit purge removes (and on
    SQLite and PostgreSQL alike the index that finds the newest anchor in one probe)."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_audit_action ON audit (action, id)"))
    for statement in (_POSTGRESQL_TRIGGERS if conn.dialect.name == "postgresql"
                      else _SQLITE_TRIGGERS):
        conn.execute(sa.text(statement))


class Removal(NamedTuple):
    """The rows a purge removes: how many, and the id, row_hash and time (UTC µs) of the
    last of them; with none, the newest anchor's (0, GENESIS and None if there is none)."""
    rows: int
    last_id: int
    last_hash: str
    last_at: int | None


def removable(conn, cutoff):
    """The :class:`Removal` of a purge of the rows written before ``cutoff`` (UTC µs): the
    rows before the first one written at or after it."""
    first_kept = conn.execute(sa.select(sa.func.min(audit.c.id))
                              .where(audit.c.at >= cutoff)).scalar()
    query = sa.select(sa.func.count(), sa.func.max(audit.c.id))
    if first_kept is not None:
        query = query.where(audit.c.id < first_kept)
    rows, last_id = conn.execute(query).one()
    if not rows:
        start = chain.anchor(conn, audit)
        return (Removal(0, start.last_id, start.last_hash, None) if start is not None
                else Removal(0, 0, chain.GENESIS, None))
    last = conn.execute(sa.select(audit.c.row_hash, audit.c.at)
                        .where(audit.c.id == last_id)).one()
    return Removal(rows, last_id, last.row_hash, last.at)


class BrokenChain(Exception):
    """A purge refused: the chain is broken at ``row_id`` (``why``), a row it would remove."""

    def __init__(self, row_id, why):
        super().__init__(f"the audit trail is broken at row {row_id}: {why}")
        self.row_id, self.why = row_id, why


def purge(store, conn, cutoff, actor, verified=None, **detail):
    """Remove the rows written before ``cutoff`` (UTC µs) under an anchor written by
    ``actor`` (a login) with ``detail``, in the caller's transaction; return the
    :class:`Removal` and the anchor's id.

    The append lock is held from before the rows are counted to the commit, so no row
    is appended between the anchor and the delete. ``verified``, the ``(id, row_hash)``
    of the head of a walk of the chain made before (without the lock, which a long walk
    would hold against every writer): the rows appended since are walked under the lock,
    and :class:`BrokenChain` is raised, nothing removed, if one the purge would remove
    breaks the chain. On SQLite the removed rows are overwritten in the file
    (``secure_delete``).
    """
    store.lock_audit(conn)
    removal = removable(conn, cutoff)
    if verified is not None and removal.last_id > (verified[0] or 0):
        since = chain.walk(conn, audit, after=None if verified[0] is None else verified)
        if since.broken is not None and since.broken[0] <= removal.last_id:
            raise BrokenChain(*since.broken)
    store.audit(conn, actor, chain.ANCHOR, cutoff=format_timestamp(cutoff), deleted=removal.rows,
                last_removed_id=removal.last_id, last_removed_hash=removal.last_hash,
                last_removed_at=None if removal.last_at is None
                else format_timestamp(removal.last_at), **detail)
    anchor = chain.anchor(conn, audit)
    with secure_delete(conn):
        deleted = conn.execute(audit.delete().where(audit.c.id <= removal.last_id)).rowcount
    if deleted != removal.rows:  # the lock makes this impossible; never commit if not
        raise RuntimeError(f"audit purge deleted {deleted} rows, counted {removal.rows}")
    return removal, anchor.id
