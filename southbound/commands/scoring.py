"""``southbound score``: every outbound crossing of a log scored, banded and referred."""
from __future__ import annotations

from pathlib import Path

import click

from scoring.wording import plural
from southbound.common import on_cluster, open_registry, open_store, read, report_sources
from southbound.inputs import read_policy
from southbound.options import (actor_option, data_files_option, engine_options,
                                handle_errors, on_error_option, registry_option)


@click.command()
@data_files_option
@registry_option
@on_error_option
@click.option("--model", "version", help="Model version [default: the active one].")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="A .csv or .parquet file; with --engine dask, a new folder for a "
                   "Parquet dataset (one file per partition).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              help="Referral policy TOML (bands, capacity per port).")
@engine_options
@actor_option
@handle_errors
def score(data, registry, on_error, version, out, policy_file, engine, scheduler, actor):
    """Score every outbound crossing of a log: score, band, referral and reasons.

    A crossing is referred when its score reaches the model's own score quantile for
    its port's capacity (recorded at training, per port), so the picks do not depend
    on how the crossings were cut into files. With --engine dask, the features and
    scores are computed on a Dask cluster (--scheduler, $SOUTHBOUND_DASK_SCHEDULER, or
    worker processes on this machine) and written as a Parquet dataset, rows in the
    order of crossing time then id across its files in name order.

    The file holds persons' crossings and who would be searched: audited in the
    service's store (``score_file``: the model, the logs, the file, the counts and the
    host, never the rows), which must be reachable; the row is written before the file
    (on Dask, before the cluster starts writing).
    """
    from scoring.features_dask import log_files
    from scoring.policy import PolicyConfig, ScoreQuantiles
    store = open_store()  # unreachable: refused before anything is read or written
    policy = read_policy(policy_file) if policy_file else PolicyConfig()
    model, manifest = open_registry(registry).load(version)
    quantiles = ScoreQuantiles.from_manifest(manifest)
    if engine == "dask":
        if out.exists() or out.suffix.lower() in (".csv", ".parquet"):
            raise click.BadParameter(f"{out}: --engine dask writes a Parquet dataset into "
                                     "a new folder: give a path that does not exist, "
                                     "without a .csv or .parquet suffix", param_hint="--out")
        from scoring.batch_dask import score_dask
        from training.fit import describe_source
        audited(store, actor, manifest, data, out, via="southbound score --engine dask")
        rows, referred = on_cluster(scheduler, lambda client: score_dask(
            model, list(data), out, client, policy, quantiles, on_error=on_error,
            on_read=report_sources, describe=describe_source),
            f"nothing was written to {out}")
        click.echo(f"scored {plural(rows, 'outbound crossing')} with model "
                   f"{manifest['version']} on Dask; {referred:,} referred; wrote the Parquet "
                   f"dataset {out}/")
        return
    from scoring.batch import score_frame
    from southbound.outputs import write_table
    frame, _ = read(log_files(list(data)), on_error)
    scored = score_frame(model, frame, policy, quantiles)
    referred = int(scored["refer"].sum())
    audited(store, actor, manifest, data, out, rows=len(scored), referred=referred)
    write_table(scored, out)
    click.echo(f"scored {plural(len(scored), 'outbound crossing')} with model "
               f"{manifest['version']}; {referred:,} referred; wrote {out}")


def audited(store, actor, manifest, data, out, via="southbound score", **counts):
    """The ``score_file`` audit row of one scored file."""
    import socket

    from models.audit import record
    record(store, actor, "score_file", target=out.name[:128], model_version=manifest["version"],
           out=str(out.resolve()), logs=[str(p) for p in data], **counts, via=via,
           client=socket.gethostname())


COMMANDS = (score,)
