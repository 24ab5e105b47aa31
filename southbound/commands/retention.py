"""``southbound purge``: delete the crossings older than a cutoff, with their scores,
outcomes and shadow scores (:mod:`service.store.retention`), audited in the same
transaction."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import click

from southbound.commands.trail import db_option
from southbound.common import safe_url
from southbound.options import EXIT_INPUT, actor_option, fail, handle_errors, iso


def utc_now():
    """The time now, in UTC (the one clock the cutoff reads; tests set it)."""
    return datetime.now(timezone.utc)


def cutoff_of(before, retention_days, setting="RETENTION_DAYS", rows="crossing"):
    """The cutoff in UTC µs and how it was chosen: ``--before``, else today (UTC) minus
    the retention days of ``SOUTHBOUND_<setting>``; exit 2 when neither is given, or the
    date is bad or in the future (the messages name the ``rows`` purged)."""
    now = utc_now()
    if before is None:
        if retention_days is None:
            fail(f"nothing to purge by: give --before DATE, or set SOUTHBOUND_{setting} "
                 f"(empty: every {rows} is kept)", EXIT_INPUT)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        cutoff = today - timedelta(days=retention_days)
        return _micros(cutoff), f"SOUTHBOUND_{setting}={retention_days}"
    try:
        cutoff = datetime.fromisoformat(before.strip())
    except ValueError:
        fail(f"--before {before!r} is not a date such as 2025-04-06 (or a UTC time such as "
             "2025-04-06T08:00)", EXIT_INPUT)
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=timezone.utc)
    if cutoff > now:
        fail(f"--before {before!r} is in the future: it would delete every {rows}, "
             "including today's", EXIT_INPUT)
    return _micros(cutoff), "--before"


def _micros(moment):
    """An aware datetime as UTC µs since the epoch, as the store keeps times."""
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


@click.command()
@click.option("--before", metavar="DATE",
              help="Delete the crossings that crossed before this date or time (UTC), "
                   "e.g. 2025-04-06 [default: today minus $SOUTHBOUND_RETENTION_DAYS].")
@db_option
@click.option("--dry-run", is_flag=True,
              help="Print how many rows each table would lose; delete and write nothing.")
@actor_option
@handle_errors
def purge(before, url, dry_run, actor):
    """Delete the crossings older than the cutoff, with their scores (and feature
    vectors), outcomes and shadow scores, in one transaction, on SQLite or PostgreSQL.

    Audited in the same transaction (``purge``: the cutoff and the rows deleted per
    table, never their contents), so no purge goes unrecorded. The audit trail, tokens
    and lookouts are kept. A dry run only counts, and writes nothing, not even an audit
    row: it changes nothing and shows no person, only counts.
    """
    from scoring.settings import from_environment
    from service.store import retention
    from service.store_open import open_store
    settings = from_environment()
    cutoff, by = cutoff_of(before, settings["RETENTION_DAYS"])
    store = open_store(url or settings["DATABASE_URL"], settings["SQLITE_SYNCHRONOUS"])
    where = safe_url(store.url)
    if dry_run:
        with store.engine.connect() as conn:
            counts = retention.count(conn, cutoff)
        store.engine.dispose()
        click.echo(f"dry run: crossings before {iso(cutoff)} ({by}) in {where}; nothing "
                   "deleted")
        _table(counts, "would delete")
        return
    started = time.perf_counter()
    with store.write() as conn:
        counts = retention.delete(conn, cutoff)
        store.audit(conn, actor.login, "purge", cutoff=iso(cutoff),
                    by=by, deleted=counts, via="southbound purge", **actor.detail())
    seconds = time.perf_counter() - started
    checkpoint(store)
    store.engine.dispose()
    click.echo(f"purged crossings before {iso(cutoff)} ({by}) from {where} in "
               f"{seconds:.1f} s; audited")
    _table(counts, "deleted")


def _table(counts, verb):
    for name, rows in counts.items():
        click.echo(f"{name:<14} {rows:>10} {verb}")


#: how long the WAL checkpoint after a purge waits for readers of older snapshots
CHECKPOINT_WAIT_MS = 2000


def checkpoint(store):
    """SQLite: copy the WAL into the file and empty it, so the deleted rows' old pages do
    not stay in the WAL; a reader holding an older snapshot past
    :data:`CHECKPOINT_WAIT_MS` postpones that, said in a warning (the engine is disposed
    after, so the connection's shorter wait goes with it)."""
    if store.dialect != "sqlite":
        return
    with store.engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
    if busy:
        click.echo("warning: another connection holds the SQLite WAL: the deleted rows' old "
                   "pages leave it at the next checkpoint", err=True)


COMMANDS = (purge,)
