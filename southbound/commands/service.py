"""``southbound serve``, ``export`` and ``replay``: the scoring service, its store as a
crossing log, and a log sent through its API."""
from __future__ import annotations

from pathlib import Path

import click

from scoring.wording import plural
from southbound.common import checked_truth, open_store
from southbound.inputs import truth_table
from southbound.options import (EXIT_INPUT, EXIT_REFUSED, actor_option, fail, handle_errors,
                                utc_micros)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Threads per worker: each takes one request at a time.")
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn "
                                          "(never with Werkzeug's debugger).")
@click.option("--check", is_flag=True, help="Only check the settings and that the address "
                                            "is free, then exit.")
def serve(host, port, workers, threads, dev, check):
    """Run the scoring service (gunicorn threaded workers; settings from SOUTHBOUND_*).

    Every setting is checked for type and range before any worker starts: a bad one is
    one line naming the variable and its value, exit 2."""
    from service.server import AddressInUse, check_free, run
    from scoring.settings import SettingError, from_environment
    try:
        config = from_environment()   # read once: checked here, before any worker starts
    except SettingError as exc:
        fail(str(exc), EXIT_INPUT)
    try:
        if check:
            check_free(host, port)
            return
        if config["INSECURE_UNSIGNED_MODELS"]:
            click.echo("warning: INSECURE development mode (SOUTHBOUND_INSECURE_UNSIGNED_MODELS"
                       "=1): model signatures are NOT checked; any file in the registry can "
                       "run code in this service. Never in production", err=True)
        run(host, port, workers, dev, threads=threads,
            receive_seconds=config["RECEIVE_SECONDS"])
    except AddressInUse as exc:
        fail(str(exc), EXIT_REFUSED)


@click.command()
@click.option("--since", required=True, help="First day (UTC) of crossings to export.")
@click.option("--until", help="Export crossings before this date (UTC).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@actor_option
@handle_errors
def export(since, until, out, actor):
    """Write the store's crossings, decisions and outcomes as a crossing log.

    An export is a read of persons and a write of a file: audited (``export``: the
    window, the file, how many rows and the host, never the rows) before the file is
    written.
    """
    import socket

    from models.audit import record
    from service.export import export_frame
    from southbound.outputs import write_table
    store = open_store()
    frame = export_frame(store, utc_micros(since, "--since"),
                         utc_micros(until, "--until") if until else None)
    left_out = frame.attrs.get("left_out", 0)
    record(store, actor, "export", target=out.name[:128], out=str(out.resolve()),
           since=since, until=until, rows=len(frame), via="southbound export",
           client=socket.gethostname(), **({"left_out": left_out} if left_out else {}))
    write_table(frame, out)
    if left_out:
        click.echo(f"warning: left out {plural(left_out, 'inbound crossing')} sent under the "
                   "id of an outbound crossing (a log holds each id once; `southbound audit "
                   "--action inbound` names them, detail set_aside)", err=True)
    click.echo(f"exported {plural(len(frame), 'crossing')} to {out}")


@click.command()
@click.option("--data", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Crossing log (CSV) to send, in time order.")
@click.option("--since", help="Send only the rows that crossed from this date on (UTC).")
@click.option("--truth", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Generator truth: referred crossings get the outcome secondary would find.")
@handle_errors
def replay(data, since, truth):
    """Send a log through the API in-process (demo traffic, back-fills): same checks, same store.

    The whole file (and the truth file) is checked first, each row as the API would
    check it: a bad row, or a crossing_id the store holds with other values, stops the
    replay before anything is sent; a row stored as it is already is not sent again.
    The replay's own officer token is revoked when it ends.
    """
    from service.replay_log import read_replayed, replay_log, truth_outcomes
    log, lines, whole = read_replayed(data, utc_micros(since, "--since") if since else None)
    outcome = None
    if truth:  # refused when none of its ids is a crossing sent; unmatched ids counted
        checked_truth(truth, log.loc[log["direction"] == "outbound", ["crossing_id"]], whole)
        outcome = truth_outcomes(truth_table(truth, ("crossing_id", "carrier", "firearms",
                                                     "rounds", "currency_usd")))
    answers, stored, sent = replay_log(
        log, lines, data, outcome,
        checked=lambda rows, stored: click.echo(
            f"checked {plural(rows, 'row')} of {data}; "
            + (f"{stored:,} already stored as they are, not sent again; " if stored else "")
            + "sending", err=True),
        progress=lambda done, total: click.echo(f"sent {done:,} of {total:,} rows", err=True))
    referred = sum(a["refer"] for a in answers.values())
    click.echo(f"sent {plural(sent, 'crossing')}; scored {len(answers):,} outbound, "
               f"{referred:,} referred" + (f"; {stored:,} already stored" if stored else ""))


COMMANDS = (serve, export, replay)
