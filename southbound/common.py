"""What several commands do the same way: open the registry and the store from the
settings, read crossing logs and say what reading set aside, check a truth file, run a
job on a Dask cluster."""
from __future__ import annotations

import click

from scoring.paths import registry_dir, var_dir
from scoring.wording import plural
from southbound.inputs import truth_for, unmatched_truth_warning
from southbound.options import EXIT_REFUSED, fail


def open_registry(path):
    """The registry at ``path`` (default: the configured one): it signs what it saves with
    the private key when this machine holds it ($SOUTHBOUND_PRIVATE_KEY, else
    var/keys/signing.key) and verifies what it loads with the public key
    ($SOUTHBOUND_PUBLIC_KEY, else var/keys/signing.pub), as the service does."""
    from models.registry import Registry
    from models.signing import INSECURE_VARIABLE
    reg = Registry(path or registry_dir())
    if reg.allow_unsigned:
        click.echo(f"warning: INSECURE development mode ({INSECURE_VARIABLE}): model "
                   "signatures are not checked", err=True)
    return reg


def open_store():
    """The service's store, as the settings name it, migrated."""
    from scoring.settings import from_environment
    from service.store_open import open_store as opened
    settings = from_environment()
    return opened(settings["DATABASE_URL"], settings["SQLITE_SYNCHRONOUS"])


def safe_url(url):
    """A database URL without its password."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def read(paths, on_error, later_wins=False):
    """The crossing logs at ``paths``, checked, and what reading each file found."""
    from training.fit import read_logs
    frame, sources = read_logs(paths, on_error=on_error, later_wins=later_wins)
    report_sources(sources)
    return frame, sources


def report_sources(sources):
    """Say what reading each file set aside or noticed; write its rejected rows (with
    their reasons) to var/rejects."""
    from southbound.outputs import write_rejects
    for source in sources:
        if source["replaced"]:
            click.echo(f"{source['path']}: {plural(source['replaced'], 'row')} replaced the rows "
                       "of the same crossing_id in earlier files (--later-wins)", err=True)
        if source["ignored_columns"]:
            click.echo(f"{source['path']}: ignored columns "
                       + ", ".join(source["ignored_columns"]), err=True)
        if source.get("ports_without_zone"):
            click.echo(f"{source['path']}: ports without a time zone in the port table "
                       "(local hour and weekday missing): "
                       + ", ".join(f"{code} ({plural(n, 'row')})"
                                   for code, n in source["ports_without_zone"].items()),
                       err=True)
        if source["unknown_ports"]:  # read and scored as unseen ports, not refused
            click.echo(f"{source['path']}: ports not in the port table (scored as unseen): "
                       + ", ".join(f"{code} ({plural(n, 'row')})"
                                   for code, n in source["unknown_ports"].items()), err=True)
        if source["rejected"]:
            side = write_rejects(source["rejects"], source["path"], var_dir() / "rejects")
            click.echo(f"{source['path']}: {plural(source['rejected'], 'row')} rejected, "
                       f"written with their reasons to {side}", err=True)


def checked_truth(path, outbound, frame):
    """The truth file's flags for ``outbound`` (refused when none of its ids matches one),
    with a warning when some of its ids match no crossing of ``frame``."""
    rows = truth_for(path, outbound, frame["crossing_id"])
    warning = unmatched_truth_warning(path, rows)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return rows


def on_cluster(scheduler, job, nothing):
    """Run ``job(client)`` on a Dask cluster; a task whose workers kept dying (out of
    memory, killed) ends the command with one line saying which, and that ``nothing``
    (the job leaves no partial result)."""
    from distributed import KilledWorker

    from scoring.batch_dask import connect
    from scoring.settings import site
    client, close = connect(scheduler or site().dask_scheduler)
    try:
        return job(client)
    except KilledWorker as exc:
        worker = getattr(exc.last_worker, "address", exc.last_worker)
        fail(f"Dask workers died running task {exc.task!r} {exc.allowed_failures + 1} "
             f"times (the last on {worker}; out of memory, or killed): {nothing}; give the "
             "workers more memory or the log more files, and run it again", EXIT_REFUSED)
    finally:
        close()
