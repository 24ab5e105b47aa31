"""The audit trail, append-only and tamper-evident: a hash chain over its rows and the
triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE).

Each row stores ``prev_hash``, the ``row_hash`` of the row before it (:data:`GENESIS` for
the first), and ``row_hash``, SHA-256 over ``prev_hash`` and the row's own fields
(:func:`row_hash`). Changing a row, or removing one from the middle, breaks the chain at
that row or the next, and :func:`verify` names the first broken row. Rewriting the whole
chain from an edited row onwards, or cutting its newest rows, is caught only against a
head recorded elsewhere (``southbound audit verify`` prints it, ``--head`` checks it).

The oldest rows go only by an audit purge (:mod:`service.store.audit_retention`), which
first appends an anchor, an ordinary chained row of action :data:`ANCHOR` that records
the id and row_hash of the last row it removes. The chain then starts at that hash
instead of :data:`GENESIS`; rows cut from the start without an anchor still break it.

Appends are serialised so that no two rows claim the same predecessor: on PostgreSQL
every writer takes the transaction-level advisory lock :data:`AUDIT_LOCK` before reading
the last hash (an advisory lock needs no privilege on the table, unlike ``LOCK TABLE``
in a mode that excludes other writers, which needs UPDATE, DELETE or TRUNCATE); on SQLite
the append holds the database's write lock before it reads (``BEGIN IMMEDIATE`` when its
transaction has not written yet: the driver would read outside any transaction).
"""
from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import sqlalchemy as sa

#: the prev_hash of the first row
GENESIS = "0" * 64
#: the PostgreSQL advisory lock key that audit appends take turns on
AUDIT_LOCK = 0x50B0_0002
#: the fields of a row that its hash covers, in this order (``id`` is not: a sequence
#: may skip numbers, and the chain itself fixes the order)
FIELDS = ("at", "actor", "action", "target", "model_version", "policy_version", "detail")

REFUSED = "the audit trail is append-only"
#: the action of an audit purge's row, the anchor that the remaining chain starts from
ANCHOR = "audit_purge"

_SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE is refused'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE is refused'); END",
]
#: PostgreSQL's refusal of every change (UPDATE and TRUNCATE; DELETE until migration 8)
APPEND_ONLY_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{REFUSED}: % is refused', TG_OP "
    "USING ERRCODE = 'insufficient_privilege'; END $$")
_POSTGRESQL_TRIGGERS = [
    APPEND_ONLY_FUNCTION,
    "DROP TRIGGER IF EXISTS audit_no_update_delete ON audit",
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit",
    "CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]


def row_hash(prev_hash, row):
    """SHA-256 (hex) over ``prev_hash`` and ``row``'s :data:`FIELDS`, as canonical JSON."""
    body = json.dumps([prev_hash, *(row[name] for name in FIELDS)], ensure_ascii=True,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def text(value):
    """A text field as the database gives it back (so that the hash computed before the
    insert is the one computed from the row read later)."""
    return None if value is None else str(value)


def install_triggers(conn):
    """The triggers that refuse UPDATE and DELETE of audit rows (PostgreSQL: TRUNCATE too),
    as migration 5 made them; migration 8 replaces the DELETE ones
    (:func:`service.store.audit_retention.install_triggers`)."""
    statements = (_POSTGRESQL_TRIGGERS if conn.dialect.name == "postgresql"
                  else _SQLITE_TRIGGERS)
    for statement in statements:
        conn.execute(sa.text(statement))


def chain_existing(conn, audit):
    """Compute the chain of rows written before it existed, once, in id order (before the
    triggers are installed)."""
    if conn.dialect.name == "postgresql":  # no append between the chain and the triggers
        conn.execute(sa.text("LOCK TABLE audit IN EXCLUSIVE MODE"))
    prev = GENESIS
    for row in _in_id_order(conn, audit, [audit.c.id, *(audit.c[n] for n in FIELDS),
                                          audit.c.row_hash]):
        if row["row_hash"] is not None:
            prev = row["row_hash"]
            continue
        digest = row_hash(prev, row)
        conn.execute(audit.update().where(audit.c.id == row["id"])
                     .values(prev_hash=prev, row_hash=digest))
        prev = digest


def _in_id_order(conn, audit, columns, batch=5000, after_id=None):
    """The rows of ``audit`` in id order (those after ``after_id`` if given), read
    ``batch`` at a time (never all in memory)."""
    last_id = after_id
    while True:
        query = sa.select(*columns).order_by(audit.c.id).limit(batch)
        if last_id is not None:
            query = query.where(audit.c.id > last_id)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


class Anchor(NamedTuple):
    """The newest audit purge's row: its ``id``, and the id and row_hash of the last row it
    removed (``last_id`` 0 and :data:`GENESIS` when none was ever removed)."""
    id: int
    last_id: int
    last_hash: str


def anchor(conn, audit):
    """The newest :class:`Anchor` of the trail, or None when no audit purge ran (a detail
    that does not read as one is an anchor of nothing: the chain must start at GENESIS)."""
    row = conn.execute(sa.select(audit.c.id, audit.c.detail).where(audit.c.action == ANCHOR)
                       .order_by(audit.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    try:
        detail = json.loads(row.detail)
        return Anchor(row.id, int(detail["last_removed_id"]), str(detail["last_removed_hash"]))
    except (ValueError, TypeError, KeyError):
        return Anchor(row.id, 0, GENESIS)


def _starts(row, start):
    """Whether ``row``, the first left, starts the chain: at GENESIS, or right after the
    last row the newest audit purge removed."""
    return row["prev_hash"] == GENESIS or (
        start is not None and row["prev_hash"] == start.last_hash and row["id"] > start.last_id)


class Walk(NamedTuple):
    """What :func:`walk` found: how many rows it checked, the last good row_hash and that
    row's id (:data:`GENESIS` and None when it checked none), and ``(id, why)`` of the
    first broken row, or None when the chain holds."""
    rows: int
    head: str
    head_id: int | None
    broken: tuple | None


def verify(conn, audit):
    """Walk the chain in id order, from GENESIS or from the newest audit purge's anchor.

    Returns
    -------
    (rows, head, broken) : (int, str, tuple or None)
        how many rows were checked, the last good row_hash (:data:`GENESIS` for an empty
        trail) and ``(id, why)`` of the first broken row, or None when the chain holds.
    """
    found = walk(conn, audit)
    return found.rows, found.head, found.broken


def walk(conn, audit, after=None):
    """:func:`verify`'s walk, as a :class:`Walk`; with ``after``, the ``(id, row_hash)`` of
    a row an earlier walk checked, only the rows after it, the first chained to it (what
    was appended since)."""
    start = anchor(conn, audit) if after is None else None
    prev_id, prev = after if after is not None else (None, GENESIS)
    count = 0
    for row in _in_id_order(conn, audit, [audit.c.id, *(audit.c[n] for n in FIELDS),
                                          audit.c.prev_hash, audit.c.row_hash],
                            after_id=prev_id):
        if prev_id is None and _starts(row, start):
            prev = row["prev_hash"]
        if row["prev_hash"] != prev:
            why = (f"its prev_hash does not match the row_hash of row {prev_id} (that row "
                   "was changed, or rows between them removed)" if prev_id is not None else
                   "its prev_hash is not the start of the chain (rows before it were removed"
                   + (")" if start is None else
                      f", not by the audit purge of row {start.id}: it removed rows up to "
                      f"{start.last_id})"))
            return Walk(count, prev, prev_id, (row["id"], why))
        if row["row_hash"] != row_hash(prev, row):
            return Walk(count, prev, prev_id, (row["id"], "its row_hash does not match its "
                                               "contents (the row was changed)"))
        prev, prev_id, count = row["row_hash"], row["id"], count + 1
    return Walk(count, prev, prev_id, None)
