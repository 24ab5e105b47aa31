"""``southbound generate``: a synthetic port world, a crossing log and its latent truth."""
from __future__ import annotations

from pathlib import Path

import click

from scoring.paths import var_dir
from scoring.wording import plural
from southbound.options import handle_errors


def _generate_help():
    """The generate command's help: what it does, then one line per world variant."""
    from training.world.variants import VARIANTS
    lines = [f"  {name:<17}{variant.summary}" for name, variant in VARIANTS.items()]
    return ("Generate a synthetic port world: a crossing log and its latent truth.\n\n"
            "\b\nVariants (--variant):\n" + "\n".join(lines))


def _variant_names():
    from training.world.variants import VARIANTS
    return list(VARIANTS)


@click.command(help=_generate_help())
@click.option("--days", type=click.IntRange(1, 3650), default=120, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--start", default="2025-01-06", show_default=True, help="First local day.")
@click.option("--scale", type=click.FloatRange(1e-5, 100.0), default=0.005, show_default=True,
              help="Fraction of the real BTS crossing volume (1: the whole border, some "
                   "456,000 rows a day); above 1 only with a folder for --out.")
@click.option("--out", type=click.Path(path_type=Path),
              default=lambda: var_dir() / "world.csv", show_default="var/world.csv",
              help="A .csv or .parquet file; or a new folder (no such suffix): a Parquet "
                   "dataset written shard by shard, never all in memory (part-SSSS-YYYY-MM"
                   ".parquet, truth/part-SSSS.parquet).")
@click.option("--variant", type=click.Choice(_variant_names()), default="base",
              show_default=True, metavar="NAME",
              help="Which world: the variants are listed above.")
@click.option("--id-prefix", metavar="TEXT",
              help="Put after each id's letter (X crossing, P plate, C carrier): up to 16 "
                   "letters, digits, '-' or '_'; '' for bare numbers [default: six hex "
                   "digits of a hash of the world's parameters and '-', so that two "
                   "different worlds never share an id].")
@handle_errors
def generate(days, seed, start, scale, out, variant, id_prefix):
    from training.synth import WorldConfig, generate_world, write_world
    try:
        config = WorldConfig(days=days, seed=seed, start=start, scale=scale, variant=variant,
                             id_prefix=id_prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--id-prefix" if "id_prefix" in str(exc)
                                 else "--start")
    if out.suffix.lower() not in (".csv", ".parquet"):
        from training.world.writer import write_dataset
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise click.BadParameter(f"{out} exists: give a new folder for the dataset",
                                     param_hint="--out")
        rows, outbound, files = write_dataset(config, out,
                                              progress=lambda m: click.echo(m, err=True))
        click.echo(f"wrote {plural(rows, 'crossing')} ({outbound:,} outbound) to "
                   f"{plural(files, 'Parquet file')} in {out}/, and the latent truth to "
                   f"{out / 'truth'}/")
        return
    if scale > 1:
        raise click.BadParameter("above 1, a world is written as a Parquet dataset: give "
                                 "--out a new folder", param_hint="--scale")
    out.parent.mkdir(parents=True, exist_ok=True)
    log, truth = generate_world(config)
    log_path, truth_path = write_world(log, truth, out)
    outbound = int((log["direction"] == "outbound").sum())
    click.echo(f"wrote {plural(len(log), 'crossing')} ({outbound:,} outbound) to {log_path}")
    click.echo(f"wrote the latent truth to {truth_path}")


COMMANDS = (generate,)
