"""``southbound audit``: read the store's audit trail, ``audit verify``: check its hash
chain (:mod:`service.store.chain`), and ``audit purge``: remove its oldest rows under an
anchor (:mod:`service.store.audit_retention`)."""
from __future__ import annotations

import time

import click

from scoring.wording import plural
from southbound.common import safe_url
from southbound.options import (EXIT_REFUSED, actor_option, fail, handle_errors, iso,
                                utc_micros)

db_option = click.option(
    "--db", "url", metavar="URL",
    help="The store's SQLAlchemy URL [default: $SOUTHBOUND_DATABASE_URL or "
         "sqlite:///var/southbound.db].")

COLUMNS = ("id", "at", "actor", "action", "target", "model_version", "detail")


def _open(url):
    from scoring.settings import from_environment
    from service.store_open import open_store
    settings = from_environment()
    return open_store(url or settings["DATABASE_URL"], settings["SQLITE_SYNCHRONOUS"])


@click.group(invoke_without_command=True)
@click.option("--since", help="Rows written at or after this date or time (UTC), "
                              "e.g. 2025-04-06 or 2025-04-06T08:00.")
@click.option("--actor", help="Only the rows of this actor.")
@click.option("--action", help="Only the rows of this action (score, inbound, outcome, "
                               "outcome_review: outcomes flagged for review, activate, "
                               "register, sign, export, report, purge, audit_purge, "
                               "token_create, ...).")
@db_option
@click.pass_context
@handle_errors
def audit(ctx, since, actor, action, url):
    """Print the audit trail, oldest first, tab-separated under a header row.

    Reading the trail is a look-up of persons (its targets are crossing ids), so it is
    itself audited: one audit_read row with the login name, the filters and the
    number of rows shown, written before anything is printed (it needs INSERT on the
    table, as the service's role has). audit verify writes nothing.
    """
    if ctx.invoked_subcommand is not None:
        return
    since_us = utc_micros(since, "--since") if since else None
    from models.files import login_name
    store = _open(url)
    with store.engine.connect() as conn:
        rows = store.audit_trail(conn, since_us, actor, action)
    with store.write() as conn:
        store.audit(conn, login_name(), "audit_read", rows=len(rows), via="southbound audit",
                    filters={"since": since, "actor": actor, "action": action})
    store.engine.dispose()
    if not rows:
        click.echo(f"no audit rows in {safe_url(store.url)}"
                   + (" matching the filters" if since or actor or action else ""))
        return
    click.echo("\t".join(COLUMNS))
    for row in rows:
        values = dict(row, at=iso(row["at"]))
        click.echo("\t".join("-" if values[name] is None else str(values[name])
                             for name in COLUMNS))


@audit.command("verify")
@click.option("--head", metavar="HASH",
              help="A head printed by an earlier verify: it must still be a row of the "
                   "chain (catches newest rows cut off, or the chain rewritten).")
@db_option
@handle_errors
def verify(head, url):
    """Check the hash chain: exit 0 with a one-line summary when it holds, exit 1 naming
    the first broken row otherwise. Keep the head it prints somewhere else: a later
    verify --head proves that no row up to it was removed or rewritten."""
    from service.store import audit as table
    from service.store.chain import anchor
    from service.store.chain import verify as walk
    store = _open(url)
    with store.engine.connect() as conn:
        count, last, broken = walk(conn, table)
        found = (head is None or conn.execute(
            table.select().with_only_columns(table.c.id).where(table.c.row_hash == head)
        ).first())
        start = anchor(conn, table)
    store.engine.dispose()
    where = safe_url(store.url)
    if broken is not None:
        row_id, why = broken
        fail(f"the audit trail of {where} is broken at row {row_id}: {why}; "
             f"{plural(count, 'row')} before it verify", EXIT_REFUSED)
    if not found:
        fail(f"the audit trail of {where} holds {plural(count, 'chained row')} but not the "
             f"head {head}: rows were removed or the chain rewritten since it was recorded"
             + ("" if start is None else
                f" (or it is one of the rows up to {start.last_id} that the audit purge of "
                f"row {start.id} removed: check the head printed after it)"), EXIT_REFUSED)
    click.echo(f"audit trail intact: {plural(count, 'row')} chained in {where}, head {last}")


@audit.command("purge")
@click.option("--before", metavar="DATE",
              help="Delete the audit rows written before this date or time (UTC), e.g. "
                   "2025-04-06 [default: today minus $SOUTHBOUND_AUDIT_RETENTION_DAYS].")
@db_option
@click.option("--dry-run", is_flag=True,
              help="Print how many rows would go; delete and write nothing.")
@actor_option
@handle_errors
def purge(before, url, dry_run, actor):
    """Delete the oldest audit rows, those written before the cutoff, keeping the rest
    verifiable: in one transaction an anchor row (``audit_purge``: the cutoff, the count,
    the id and row_hash of the last row removed) is appended, then the rows removed;
    ``audit verify`` starts the chain from the anchor.

    Refused when the chain is broken at a row it would remove (a purge would erase the
    evidence), and by the database unless run as the owner of the store's tables (the
    service's role may not delete audit rows). A dry run only counts, and writes nothing.
    """
    import sqlalchemy as sa

    from scoring.settings import from_environment
    from service.store import audit as table
    from service.store import audit_retention
    from service.store.chain import walk
    from southbound.commands.retention import checkpoint, cutoff_of
    settings = from_environment()
    cutoff, by = cutoff_of(before, settings["AUDIT_RETENTION_DAYS"], "AUDIT_RETENTION_DAYS",
                           "audit row")
    store = _open(url)
    where = safe_url(store.url)
    with store.engine.connect() as conn:
        removal = audit_retention.removable(conn, cutoff)
        checked = walk(conn, table)       # without the lock: the purge walks what follows

    def refuse(row_id, why):
        store.engine.dispose()
        fail(f"the audit trail of {where} is broken at row {row_id}, which a purge "
             f"before {iso(cutoff)} would remove with the evidence: {why}; nothing "
             "purged", EXIT_REFUSED)
    if checked.broken is not None and checked.broken[0] <= removal.last_id:
        refuse(*checked.broken)
    if dry_run:
        store.engine.dispose()
        click.echo(f"dry run: audit rows written before {iso(cutoff)} ({by}) in {where}; "
                   "nothing deleted")
        click.echo(f"{'audit':<14} {removal.rows:>10} would delete")
        return
    started = time.perf_counter()
    try:
        with store.write() as conn:
            removal, anchor = audit_retention.purge(
                store, conn, cutoff, actor.login, verified=(checked.head_id, checked.head),
                by=by, via="southbound audit purge", **actor.detail())
        seconds = time.perf_counter() - started
        checkpoint(store)
    except audit_retention.BrokenChain as exc:   # in a row appended since the walk
        refuse(exc.row_id, exc.why)
    except sa.exc.DBAPIError as exc:
        if not isinstance(exc, sa.exc.ProgrammingError) and "append-only" not in str(exc):
            raise
        fail(f"the database refused the audit purge in {where}: "
             f"{str(exc.orig or exc).splitlines()[0]} (run it as the owner of the store's "
             "tables); nothing purged", EXIT_REFUSED)
    finally:
        store.engine.dispose()
    click.echo(f"purged {plural(removal.rows, 'audit row')} written before {iso(cutoff)} "
               f"({by}) from {where} in {seconds:.1f} s, up to row {removal.last_id}; the "
               f"anchor, row {anchor}, records it; audited")


COMMANDS = (audit,)
