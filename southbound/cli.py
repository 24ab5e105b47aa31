"""The ``southbound`` command: one group, one subcommand per job.

Bad input ends in one line on stderr that says what and where, and exit code 2;
a registry refusal ends in one line and exit code 1. Never a traceback.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from scoring import contract
from scoring.paths import registry_dir, var_dir
from scoring.settings import site as settings_site
from scoring.wording import plural
from southbound.inputs import read_policy, truth_for, truth_table, unmatched_truth_warning

EXIT_INPUT = 2
EXIT_REFUSED = 1


def _fail(message, code):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func):
    """Turn the domain's expected failures into one line and an exit code."""
    from models.registry import RegistryError
    from scoring.settings import SettingError
    from training.fit import TrainingError

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (contract.ContractError, SettingError) as exc:
            _fail(str(exc), EXIT_INPUT)
        except TrainingError as exc:
            _fail(str(exc), EXIT_INPUT)
        except RegistryError as exc:
            _fail(str(exc), EXIT_REFUSED)
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}", EXIT_INPUT)
        except Exception as exc:  # the store unreachable: one line, never a traceback
            import sqlalchemy as sa
            if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
                raise
            _fail(f"the database cannot be reached: {str(exc.orig or exc).splitlines()[0]}",
                  EXIT_REFUSED)
    return wrapper


def _on_cluster(scheduler, job, nothing):
    """Run ``job(client)`` on a Dask cluster; a task whose workers kept dying (out of
    memory, killed) ends the command with one line saying which, and that ``nothing``
    (the job leaves no partial result)."""
    from distributed import KilledWorker

    from scoring.batch_dask import connect
    client, close = connect(scheduler)
    try:
        return job(client)
    except KilledWorker as exc:
        worker = getattr(exc.last_worker, "address", exc.last_worker)
        _fail(f"Dask workers died running task {exc.task!r} {exc.allowed_failures + 1} "
              f"times (the last on {worker}; out of memory, or killed): {nothing}; give the "
              "workers more memory or the log more files, and run it again", EXIT_REFUSED)
    finally:
        close()


def _registry(path):
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


def _write_table(frame, out):
    """Write a frame as Parquet when ``out`` ends in .parquet, else as CSV."""
    from southbound.outputs import write_table
    write_table(frame, out)


def _iso(micros):
    """UTC µs as the contract writes a timestamp (``...Z``)."""
    return contract.format_timestamp(int(micros))


def _utc_micros(text, option):
    """A date or timestamp given on the command line, as UTC µs."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date such as 2025-04-06", param_hint=option)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.tz_convert("UTC").value // 1000)


registry_option = click.option(
    "--registry", type=click.Path(file_okay=False, path_type=Path),
    help="Model registry folder [default: $SOUTHBOUND_REGISTRY or ./var/registry].")
data_option = click.option(
    "--data", "data", multiple=True, required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Crossing log, CSV or Parquet (repeat for several).")


def engine_options(func):
    """--engine and --scheduler: in-process pandas (default) or a Dask cluster."""
    func = click.option("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler (tcp://host:8786) [default: "
                             "$SOUTHBOUND_DASK_SCHEDULER, else worker processes on this "
                             "machine]; with --engine dask.")(func)
    return click.option("--engine", type=click.Choice(["pandas", "dask"]), default="pandas",
                        show_default=True,
                        help="pandas: in one process (small logs); dask: on a Dask cluster, "
                             "for logs past one machine's memory.")(func)


on_error_option = click.option(
    "--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
    help="Stop at the first bad row, or set bad rows aside in a rejects file.")


def _login_name():
    from models.registry import login_name
    return login_name()


actor_option = click.option(
    "--actor", default=_login_name, show_default="your login name",
    help="Who does this, for the audit table.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="southbound")
def main():
    """Southbound: risk scoring of outbound crossings at US-Mexico land ports."""
    from scoring import settings
    settings.use()   # SOUTHBOUND_* read once per command, before its options' defaults


def _generate_help():
    """The generate command's help: what it does, then one line per world variant."""
    from training.world.variants import VARIANTS
    lines = [f"  {name:<17}{variant.summary}" for name, variant in VARIANTS.items()]
    return ("Generate a synthetic port world: a crossing log and its latent truth.\n\n"
            "\b\nVariants (--variant):\n" + "\n".join(lines))


def _variant_names():
    from training.world.variants import VARIANTS
    return list(VARIANTS)


@main.command(help=_generate_help())
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


def _read(paths, on_error, later_wins=False):
    from training.fit import read_logs
    frame, sources = read_logs(paths, on_error=on_error, later_wins=later_wins)
    _report_sources(sources)
    return frame, sources


def _report_sources(sources):
    """Say what reading each file set aside or noticed; write its rejected rows (with
    their reasons) to var/rejects."""
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
            rejects_dir = var_dir() / "rejects"
            rejects_dir.mkdir(parents=True, exist_ok=True)
            side = rejects_dir / (Path(source["path"]).name + ".rejects.csv")
            source["rejects"].to_csv(side, index=False)
            click.echo(f"{source['path']}: {plural(source['rejected'], 'row')} rejected, "
                       f"written with their reasons to {side}", err=True)


pipeline_options = [
    click.option("--calibration", type=click.Choice(["crossfit", "holdout"]), default=None,
                 help="crossfit: trees on every labelled row, calibrated on out-of-fold "
                      "scores; holdout: trees on the oldest 70%, calibration and validation "
                      "on the newer 15% each [default: the pipeline's, see "
                      "benchmarks/README.md].")
    , click.option("--weighting", type=click.Choice(["ipw", "none"]), default=None,
                   help="Training weights: capped inverse selection probability, or none "
                        "[default: the pipeline's].")]


def _pipeline(func):
    for option in reversed(pipeline_options):
        func = option(func)
    return func


def _train_config(exclude=(), seed=0, calibration=None, weighting=None, until=None):
    from scoring.features import resolve_exclusions
    from training.fit import TrainConfig
    try:
        resolve_exclusions(exclude)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--exclude-feature")
    chosen = {k: v for k, v in (("calibration", calibration), ("weighting", weighting)) if v}
    return TrainConfig(exclude=tuple(exclude), until=until, seed=seed, **chosen)


def _days(text, option):
    """A span such as ``30d`` or ``30`` as whole days."""
    value = str(text).strip().lower().removesuffix("d")
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{text!r} is not a number of days such as 30d",
                                 param_hint=option)
    return int(value)


@main.command()
@click.option("--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Crossing log, CSV or Parquet: a file, a folder of them or a glob "
                   "(repeat for several).")
@registry_option
@on_error_option
@click.option("--exclude-feature", "exclude", multiple=True,
              help="Switch a feature off (e.g. plate_jurisdiction); a feature of a group "
                   "(plate_country, plate_jurisdiction) switches off its whole group; "
                   "repeatable.")
@click.option("--until", help="Use only rows that crossed before this date (UTC).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--promote", is_flag=True, help="Make the new model active at once.")
@click.option("--later-wins", is_flag=True,
              help="A row of a later --data file replaces the row of the same crossing_id "
                   "in an earlier one (e.g. the service's export after the log it replayed); "
                   "without it a repeated id is an error.")
@_pipeline
@click.option("--backtest", "origins", type=click.IntRange(1, 52),
              help="Also backtest the pipeline on these logs with this many 30-day "
                   "origins, and keep the table in the manifest (models show, the report).")
@actor_option
@engine_options
@handle_errors
def train(data, registry, on_error, exclude, until, seed, promote, later_wins, calibration,
          weighting, origins, actor, engine, scheduler):
    """Train a risk model on crossing logs and register it.

    With --engine dask, the features, counts and out-of-fold scores are computed on a
    Dask cluster (--scheduler, $SOUTHBOUND_DASK_SCHEDULER, or worker processes on this
    machine) and only the labelled rows come to this machine: the same model as
    in-process where the log gives every selection probability.
    """
    from scoring.features_dask import log_files
    from training.fit import train as fit
    until_us = _utc_micros(until, "--until") if until else None
    config = _train_config(exclude, seed, calibration, weighting, until_us)
    if engine == "dask":
        for flag, value, why in (("--later-wins", later_wins, "a repeated crossing_id is refused"),
                                 ("--backtest", origins, "the backtest runs in-process: run "
                                  "southbound backtest on the log")):
            if value:
                raise click.BadParameter(f"not with --engine dask: {why}", param_hint=flag)
        from training.fit_dask import train_dask
        model, manifest = _on_cluster(scheduler, lambda client: train_dask(
            list(data), client, config, progress=lambda m: click.echo(m, err=True),
            on_error=on_error, on_read=_report_sources),
            "no model was registered")
        _register(model, manifest, registry, promote, actor)
        return
    frame, sources = _read(log_files(list(data)), on_error,
                           later_wins)
    if origins:  # a log too short for the origins is refused before any training
        from training.backtest import BacktestConfig
        backtested = (frame.loc[frame["crossed_at"].to_numpy() < until_us] if until_us
                      else frame)
        _check_span(backtested, BacktestConfig(origins=origins), data)
    model, manifest = fit(frame, config, progress=lambda m: click.echo(m, err=True),
                          sources=sources)
    if origins:
        from training.backtest import backtest as run, format_backtest
        result = run(backtested, None, BacktestConfig(origins=origins), config,
                     progress=lambda m: click.echo(m, err=True))
        click.echo(format_backtest(result), err=True)
        manifest["backtest"] = result
    _register(model, manifest, registry, promote, actor)


def _register(model, manifest, registry, promote, actor):
    """Save a trained model; make it active with --promote, or when none is."""
    reg = _registry(registry)
    previous = reg.active_version()
    store = _store() if promote or previous is None else None  # it will change what is served
    version = reg.save(model, manifest, actor=actor)
    if promote and reg.active_version() != version:
        reg.promote(version, "promoted at training", actor=actor)
    if reg.active_version() == version and previous != version:
        _audit_activation(store, actor, "activate", version, previous, "southbound train")
    state = "active" if reg.active_version() == version else "inactive (promote it to serve)"
    click.echo(f"registered model {version} in {reg.root}: {state}")
    if not reg.signing:
        from models.signing import PRIVATE_KEY_VARIABLE
        click.echo(f"warning: model {version} is not signed ({PRIVATE_KEY_VARIABLE} is not set "
                   "and there is no var/keys/signing.key): nothing will load it until it is "
                   f"signed (point {PRIVATE_KEY_VARIABLE} at the training side's private key, "
                   "or make a first pair with `southbound keys create`, then `southbound "
                   f"models sign {version}`)", err=True)
    for warning in manifest.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)


@main.command()
@data_option
@on_error_option
@click.option("--truth", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The generator's latent truth, to add the true recall.")
@click.option("--origins", type=click.IntRange(1, 52), default=3, show_default=True,
              help="How many rolling origins.")
@click.option("--horizon", default="30d", show_default=True,
              help="Days graded after each origin.")
@click.option("--step", help="Days between origins [default: the horizon].")
@click.option("--budget", "budgets", type=click.FloatRange(0, 1, min_open=True),
              multiple=True, help="Inspection budget as a share, repeatable "
                                  "[default: 0.01 and 0.02].")
@click.option("--exclude-feature", "exclude", multiple=True,
              help="Switch a feature off for the pipeline under test; repeatable.")
@_pipeline
@click.option("--every-carrier-labelled", is_flag=True,
              help="Train on every outbound row with its true label (needs --truth): the "
                   "limit of the features and training, whatever the labels.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the backtest as JSON here.")
@handle_errors
def backtest(data, on_error, truth, origins, horizon, step, budgets, exclude, calibration,
             weighting, every_carrier_labelled, seed, out):
    """Rolling-origin backtest: train before each origin, grade the horizon after it.

    Each origin trains the pipeline (the same code as train) on every row before it
    and grades the next --horizon days at each budget: the estimate from inspected
    rows (Horvitz-Thompson, with its interval) and, with --truth, the true recall.
    Prints a table per origin and the mean and spread.
    """
    from training.backtest import BUDGETS, BacktestConfig, backtest as run, format_backtest
    if every_carrier_labelled and truth is None:
        raise click.BadParameter("needs --truth", param_hint="--every-carrier-labelled")
    config = BacktestConfig(origins=origins, horizon_days=_days(horizon, "--horizon"),
                            step_days=_days(step, "--step") if step else None,
                            budgets=tuple(sorted(budgets)) or BUDGETS)
    train_config = _train_config(exclude, seed, calibration, weighting)
    frame, _ = _read(data, on_error)
    _check_span(frame, config, data)
    truth_frame = None
    if truth is not None:  # checked, and refused when it is the truth of another log
        outbound = frame.loc[frame["direction"] == "outbound", ["crossing_id"]]
        truth_rows = _truth(truth, outbound, frame)
        truth_frame = outbound.assign(carrier=truth_rows["carrier"])
    result = run(frame, truth_frame, config, train_config,
                 progress=lambda m: click.echo(m, err=True),
                 labels="every-carrier" if every_carrier_labelled else "observed")
    if not any("budgets" in r for r in result["origins"]):
        raise contract.ContractError(
            f"{', '.join(map(str, data))}: no origin could train: "
            + result["origins"][0].get("refused", ""))
    click.echo(format_backtest(result))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        from models.registry import json_safe
        out.write_text(json.dumps(json_safe(result), indent=2, default=float) + "\n")
        click.echo(f"wrote {out}")


def _truth(path, outbound, frame):
    """The truth file's flags for ``outbound`` (refused when none of its ids matches one),
    with a warning when some of its ids match no crossing of ``frame``."""
    rows = truth_for(path, outbound, frame["crossing_id"])
    warning = unmatched_truth_warning(path, rows)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return rows


def _check_span(frame, config, data):
    """Refuse, naming the logs, a log too short for the backtest's origins (its span and
    the span they need), before any feature or model is computed."""
    from training.backtest import origins_for
    from training.fit import TrainingError
    outbound = (frame["direction"] == "outbound").to_numpy()
    try:
        origins_for(frame["crossed_at"].to_numpy()[outbound], config)
    except TrainingError as exc:
        raise contract.ContractError(f"{', '.join(map(str, data))}: {exc}") from None


@main.command()
@data_option
@on_error_option
@click.option("--truth", required=True, type=click.Path(dir_okay=False, exists=True,
                                                        path_type=Path),
              help="The generator's latent truth: who really carried (and what).")
@click.option("--policy", "policy_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Referral policy TOML; repeat to run several side by side [default: "
                   "the default policy].")
@click.option("--retrain", default="weekly", show_default=True,
              help="weekly, daily, never, or a number of days such as 14d.")
@click.option("--start", help="First simulated day (UTC) [default: the log's middle day].")
@click.option("--detection", type=click.FloatRange(0, 1, min_open=True), default=0.85,
              show_default=True, help="Chance that secondary finds what a carrier carries.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the simulation as JSON here.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the cumulative catch per policy as a PNG here.")
@_pipeline
@handle_errors
def simulate(data, on_error, truth, policy_files, retrain, start, detection, seed, out, plot,
             calibration, weighting):
    """Closed-loop simulation: each policy picks the inspections day by day, finds what
    the truth file says was there, and retrains on only what it found.

    The first model is trained on the rows before --start; from then on the log's
    outcome columns are replaced by each policy's own. Prints, per policy and for the
    log's own legacy policy, the inspections, seizures, true carriers caught, recall
    and the recall of the model in use over the last weeks; per week in the JSON.
    """
    from scoring.policy import PolicyConfig
    from training.simulate import (SimConfig, SimulationError, format_simulation,
                                   plot_simulation, simulate as run)
    every = {"weekly": 7, "daily": 1, "never": None}.get(retrain.strip().lower(), "days")
    if every == "days":
        every = _days(retrain, "--retrain")
    frame, _ = _read(data, on_error)
    outbound = frame.loc[frame["direction"] == "outbound", ["crossing_id"]]
    _truth(truth, outbound, frame)  # refused when it is the truth of another log
    table = truth_table(truth, ("crossing_id", "carrier", "firearms", "rounds",
                                "currency_usd"))
    if start:
        start_us = _utc_micros(start, "--start")
    else:
        times = frame["crossed_at"]
        middle = pd.Timestamp((times.min() + times.max()) // 2, unit="us", tz="UTC")
        start_us = int(middle.normalize().value // 1000)
    policies = {}
    for path in policy_files:
        name = path.stem if path.stem not in policies else str(path)
        policies[name] = read_policy(path)
    policies = policies or {"default": PolicyConfig()}
    config = SimConfig(start_us=start_us, retrain_days=every, detection=detection, seed=seed,
                       train=_train_config(seed=seed, calibration=calibration,
                                           weighting=weighting))
    try:
        result = run(frame, table, policies, config,
                     progress=lambda message: click.echo(message, err=True))
    except SimulationError as exc:
        _fail(f"{', '.join(map(str, data))}: {exc}", EXIT_INPUT)
    for line in format_simulation(result):
        click.echo(line)
    if out:
        from models.registry import json_safe
        out.write_text(json.dumps(json_safe(result), indent=2, default=float) + "\n")
        click.echo(f"wrote {out}")
    if plot:
        plot_simulation(result, plot)
        click.echo(f"wrote {plot}")


@main.command()
@data_option
@registry_option
@on_error_option
@click.option("--model", "version", help="Model version [default: the active one].")
@click.option("--since", help="Evaluate rows that crossed from this date on (UTC), never "
              "rows the model's trees grew on; earlier rows are history only [default: the "
              "rows after the model's training data, else its own held-out window].")
@click.option("--truth", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The generator's latent truth, to add the true catch.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the full report as JSON here.")
@handle_errors
def evaluate(data, registry, on_error, version, since, truth, out):
    """Recall, hit rate and value caught at inspection budgets, with intervals.

    Graded only on rows the model's trees never saw (a --since that reaches into them
    is moved past them, with a warning); the window graded is printed. A log with no
    such row is refused, pointing to backtest.
    """
    from scoring.features import FEATURES, feature_frame
    from training.evaluate import NothingUnseen, evaluate_scores, format_report, graded_window
    model, manifest = _registry(registry).load(version)
    frame, _ = _read(data, on_error)
    outbound = (frame["direction"] == "outbound").to_numpy()
    since_us = _utc_micros(since, "--since") if since else None
    try:
        graded, why, warning = graded_window(
            manifest, frame["crossed_at"].to_numpy()[outbound], since_us)
    except NothingUnseen as exc:
        _fail(f"{', '.join(map(str, data))}: model {manifest['version']}: {exc}", EXIT_INPUT)
    query = np.zeros(len(frame), dtype=bool)
    query[np.flatnonzero(outbound)[graded]] = True
    if not query.any():
        raise contract.ContractError(
            f"{', '.join(map(str, data))}: no outbound rows to evaluate in the window ({why})")
    feats = feature_frame(frame, query)
    outbound = frame.loc[feats.index]
    truth_rows = _truth(truth, outbound, frame) if truth is not None else None
    scores = model.predict_proba(feats[list(FEATURES)])[:, 1]
    report = evaluate_scores(scores, outbound, feats, truth=truth_rows)
    report["model_version"] = manifest["version"]
    times = outbound["crossed_at"]
    report["window"] = {"from": _iso(times.min()), "to": _iso(times.max()), "why": why,
                        "warning": warning}
    report["warnings"] = _few_seizures(report)
    click.echo(f"model {manifest['version']}")
    click.echo(f"graded: {plural(len(outbound), 'outbound row')} from {_iso(times.min())} to "
               f"{_iso(times.max())}: {why}")
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if truth_rows is not None and not truth_rows["matched"].all():
        click.echo(f"warning: {truth}: the truth covers {int(truth_rows['matched'].sum()):,} of "
                   f"{len(truth_rows):,} evaluated crossings; the others count as non-carriers",
                   err=True)
    click.echo(format_report(report))
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        from models.registry import json_safe
        out.write_text(json.dumps(json_safe(report), indent=2, default=float,
                                  allow_nan=False) + "\n")
        click.echo(f"wrote {out}")


def _few_seizures(report):
    """Warnings for an evaluation whose figures rest on few seizures, or have an interval
    without width (such as [100%, 100%]: too few seizures to vary, not certainty)."""
    from training.monitoring import FEW_SEIZURES, few_seizures_note
    n = report["seizures"]
    out = [few_seizures_note(n, "every figure of this window") + f" ({report['inspected']:,} "
           "inspected)"] if n < FEW_SEIZURES else []
    for row in report["budgets"]:
        for name in ("recall", "hit_rate"):
            lo, hi = row.get(f"{name}_ci", [float("nan")] * 2)
            if lo == hi:  # NaN never equals itself: no interval, no warning
                out.append(f"{name.replace('_', ' ')} at {row['budget']:.1%}: interval "
                           f"[{lo:.1%}, {hi:.1%}] has no width, on {plural(n, 'seizure')}: "
                           "unstable")
    return out


@main.command()
@click.option("--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Crossing log, CSV or Parquet: a file, a folder of them or a glob "
                   "(repeat for several).")
@registry_option
@on_error_option
@click.option("--model", "version", help="Model version [default: the active one].")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="A .csv or .parquet file; with --engine dask, a new folder for a "
                   "Parquet dataset (one file per partition).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              help="Referral policy TOML (bands, capacity per port).")
@engine_options
@handle_errors
def score(data, registry, on_error, version, out, policy_file, engine, scheduler):
    """Score every outbound crossing of a log: score, band, referral and reasons.

    A crossing is referred when its score reaches the model's own score quantile for
    its port's capacity (recorded at training, per port), so the picks do not depend
    on how the crossings were cut into files. With --engine dask, the features and
    scores are computed on a Dask cluster (--scheduler, $SOUTHBOUND_DASK_SCHEDULER, or
    worker processes on this machine) and written as a Parquet dataset, rows in the
    order of crossing time then id across its files in name order.
    """
    from scoring.features_dask import log_files
    from scoring.policy import PolicyConfig, ScoreQuantiles
    policy = read_policy(policy_file) if policy_file else PolicyConfig()
    model, manifest = _registry(registry).load(version)
    quantiles = ScoreQuantiles.from_manifest(manifest)
    if engine == "dask":
        if out.exists() or out.suffix.lower() in (".csv", ".parquet"):
            raise click.BadParameter(f"{out}: --engine dask writes a Parquet dataset into "
                                     "a new folder: give a path that does not exist, "
                                     "without a .csv or .parquet suffix", param_hint="--out")
        from scoring.batch_dask import score_dask
        from training.fit import describe_source
        rows, referred = _on_cluster(scheduler, lambda client: score_dask(
            model, list(data), out, client, policy, quantiles, on_error=on_error,
            on_read=_report_sources, describe=describe_source),
            f"nothing was written to {out}")
        click.echo(f"scored {plural(rows, 'outbound crossing')} with model "
                   f"{manifest['version']} on Dask; {referred:,} referred; wrote the Parquet "
                   f"dataset {out}/")
        return
    from scoring.batch import score_frame
    frame, _ = _read(log_files(list(data)), on_error)
    scored = score_frame(model, frame, policy, quantiles)
    _write_table(scored, out)
    click.echo(f"scored {plural(len(scored), 'outbound crossing')} with model "
               f"{manifest['version']}; {int(scored['refer'].sum()):,} referred; wrote {out}")


@main.group()
def models():
    """List, show, promote and roll back registered models."""


@models.command("list")
@registry_option
@click.option("--data", "data", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Grade every version on one common window of this log (repeat for "
                   "several), so that the figures tell the models apart.")
@click.option("--since", help="With --data: the common window starts here (UTC) [default: "
                              "where the latest training window ends].")
@handle_errors
def models_list(registry, data, since):
    """One line per registered version; * marks the active one, s the one in shadow.

    Without --data, each version's recall is the one measured at training, on its own
    validation window (with its seizure count); with --data, on one common window.
    """
    from training.monitoring import FEW_SEIZURES
    reg = _registry(registry)
    active = reg.active_version()
    if since and not data:
        raise click.BadParameter("--since grades on a log: give --data too",
                                 param_hint="--since")
    if data:
        _grade_listing(reg, active, data, _utc_micros(since, "--since") if since else None)
        return
    versions = reg.versions()
    shadow = reg.shadow_version()
    if not versions:
        click.echo(f"no models in {reg.root}")
        return
    rows = []
    for m in versions:
        budgets = m.get("metrics", {}).get("validation", {}).get("budgets", [])
        at1 = next((b for b in budgets if b["budget"] == 0.01), None)
        on = m.get("data", {}).get("split", {}).get("validate", {}).get("seizures")
        recall = f"recall@1% {at1['recall']:.1%}" if at1 else "-"
        if at1 and on is not None:
            recall += (f" (own validation window, {plural(on, 'seizure')}"
                       + (", unstable)" if on < FEW_SEIZURES else ")"))
        mark = "*" if m["version"] == active else "s" if m["version"] == shadow else " "
        rows.append((mark, m, recall))
    width = max(len(m["version"]) for _, m, _ in rows)
    recall_width = max(len(r) for _, _, r in rows)
    click.echo(f"  {'version':<{width}}  {'training window':<22}  {'trees':>9}  "
               f"{'recall at 1% (own validation window)':<{recall_width}}  excluded features")
    for mark, m, recall in rows:
        click.echo(f"{mark} {m['version']:<{width}}  {_span(m):<22}  {m['trees']:>3} trees  "
                   f"{recall:<{recall_width}}  excluded: {_excluded(m)}")


def _span(manifest):
    windows = manifest["data"]["windows"]
    return f"{windows['start'][:10]}..{windows['end'][:10]}"


def _excluded(manifest):
    return ",".join(manifest.get("excluded_features", [])) or "-"


def _grade_listing(reg, active, data, since):
    """``models list --data``: every version graded on the same window of the logs."""
    from training.grade import GradeError, grade_versions
    from training.monitoring import FEW_SEIZURES
    frame, _ = _read(data, "raise")
    try:
        window, grades = grade_versions(reg, frame, since)
    except GradeError as exc:
        _fail(f"{', '.join(str(p) for p in data)}: {exc}", EXIT_INPUT)
    stamp = lambda us: pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%d")  # noqa: E731
    click.echo(f"graded on {stamp(window['start'])}..{stamp(window['end'])} of "
               f"{', '.join(str(p) for p in data)}: {window['rows']:,} outbound, "
               f"{window['inspected']:,} inspected, {plural(window['seizures'], 'seizure')}")
    if window["few"]:
        click.echo(f"warning: the common window has {plural(window['seizures'], 'seizure')} "
                   f"(fewer than {FEW_SEIZURES}): differences between models are unstable",
                   err=True)
    width = max((len(g["version"]) for g in grades), default=7)
    click.echo(f"  {'version':<{width}}  {'training window':<22}  {'trees':>9}  recall at 1% "
               "[95%], hit rate, estimated seizures on this window; excluded features")
    for g in grades:
        m = g["manifest"]
        head = f"{'*' if g['version'] == active else ' '} {g['version']:<{width}}  {_span(m):<22}"
        if "error" in g:
            click.echo(f"{head}  not graded: {g['error']}")
            continue
        r = g["row"]
        lo, hi = r.get("recall_ci", [float("nan")] * 2)
        click.echo(f"{head}  {m['trees']:>3} trees  recall@1% {r['recall']:.1%} "
                   f"[{lo:.0%}, {hi:.0%}]  hit rate {r['hit_rate']:.1%}  "
                   f"est. seizures {r['estimated_seizures']:.1f}  excluded: {_excluded(m)}")


@models.command("show")
@click.argument("version", required=False)
@registry_option
@handle_errors
def models_show(version, registry):
    """Print a version's manifest as JSON (default: the active one); how it was chosen
    and which rows grew it go to stderr in words."""
    from training.fit import how_grown
    from models.registry import SignatureError
    reg = _registry(registry)
    version = reg.resolve(version)
    manifest = reg.manifest(version)
    for label, text in how_grown(manifest):
        click.echo(f"{label}: {text}", err=True)
    try:
        reg.verify_signature(version, manifest)
        verdict = ("not checked (insecure development mode)" if reg.allow_unsigned else
                   f"verified (key id {manifest['signature'].get('key_id')})")
    except SignatureError as exc:
        verdict = f"REFUSED: {exc}"
    click.echo(f"signature: {verdict}", err=True)
    click.echo(json.dumps(manifest, indent=2))


def _audit_activation(store, actor, action, version, previous, via):
    """The audit row of a change of the model in service made from the command line."""
    with store.write() as conn:
        store.audit(conn, actor, action, target=version, model_version=version,
                    previous=previous, via=via)


def _audit_shadow(store, actor, action, version, active, previous, via):
    """The audit row of a change of the challenger in shadow (as the API writes it)."""
    with store.write() as conn:
        store.audit(conn, actor, action, target=version, model_version=active,
                    previous=previous, via=via)


@models.command("promote")
@click.argument("version")
@registry_option
@actor_option
@click.option("--require-comparison", is_flag=True,
              help="Refuse unless a comparison of VERSION against the model in service is "
                   "kept (southbound compare).")
@handle_errors
def models_promote(version, registry, actor, require_comparison):
    """Make VERSION the active model (its artifact must verify and load); audited. Prints
    the latest comparison of VERSION against the model in service, or says there is none."""
    from models.registry import evidence
    reg = _registry(registry)
    store = _store()  # unreachable: refused before anything changes
    previous = reg.active_version()
    found, text = evidence(reg, version, previous)
    click.echo(text, err=not found)
    if require_comparison and not found:
        _fail(f"refusing to promote {version} without a comparison (--require-comparison)",
              EXIT_REFUSED)
    reg.promote(version, actor=actor)
    _audit_activation(store, actor, "activate", version, previous, "southbound models promote")
    click.echo(f"active model is now {version}")


@models.command("shadow")
@click.argument("version", required=False)
@click.option("--end", is_flag=True, help="Stop scoring the challenger in shadow.")
@registry_option
@actor_option
@handle_errors
def models_shadow(version, end, registry, actor):
    """Score VERSION in shadow beside the active model (its artifact must verify and load):
    the service also scores every crossing with it, stores that apart and never acts on
    it. Without VERSION, say which version is in shadow. Audited."""
    reg = _registry(registry)
    if end and version:
        raise click.BadParameter("give a VERSION or --end, not both", param_hint="--end")
    if not end and not version:
        current = reg.shadow_version()
        click.echo(f"in shadow: {current}" if current else "no model in shadow")
        return
    store = _store()  # unreachable: refused before anything changes
    active = reg.active_version()
    if end:
        previous = reg.end_shadow(actor=actor, reason="southbound models shadow --end")
        if previous is None:
            click.echo("no model was in shadow")
            return
        _audit_shadow(store, actor, "shadow_end", previous, active, None,
                      "southbound models shadow --end")
        click.echo(f"model {previous} is no longer in shadow")
        return
    previous = reg.set_shadow(version, actor=actor, reason="southbound models shadow")
    _audit_shadow(store, actor, "shadow", version, active, previous, "southbound models shadow")
    click.echo(f"model {version} is in shadow beside {active}"
               + (f" (replacing {previous})" if previous and previous != version else ""))


@models.command("sign")
@click.argument("version")
@registry_option
@handle_errors
def models_sign(version, registry):
    """Check VERSION and sign its manifest with the private key (training side only).

    For versions saved unsigned, with the retired shared key (SOUTHBOUND_SIGNING_KEY,
    whose HMAC is checked first when that variable is set) or under a retired key pair.
    The artifact must match its recorded SHA-256; it is never unpickled. Signing vouches
    that the artifact is the one trained: sign only what your own training wrote."""
    reg = _registry(registry)
    _, signed = reg.sign(version, legacy_key=settings_site().legacy_signing_key)
    from models.signing import key_id
    kid = key_id(reg.public_key()) if reg.public_key() else "?"
    click.echo(f"signed model {version} in {reg.root} (key id {kid})" if signed
               else f"model {version} is already signed with this key (key id {kid})")


@models.command("rollback")
@registry_option
@actor_option
@handle_errors
def models_rollback(registry, actor):
    """Re-activate the model that was active before the current one; audited."""
    reg = _registry(registry)
    store = _store()
    previous = reg.active_version()
    version = reg.rollback(actor=actor)
    _audit_activation(store, actor, "rollback", version, previous, "southbound models rollback")
    click.echo(f"active model is now {version}")


@main.command()
@registry_option
@click.option("--champion", help="The model in service over the window [default: the "
                                 "active one].")
@click.option("--challenger", help="The model scored in shadow [default: the one in shadow].")
@click.option("--since", help="Only crossings from this date on (UTC) [default: all the store "
                              "holds scored by both].")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              help="Referral policy TOML: each port's capacity, at which both models' "
                   "referral lists are drawn [default: 2% everywhere].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as JSON here.")
@handle_errors
def compare(registry, champion, challenger, since, policy_file, out):
    """Estimate, without bias, how the challenger in shadow would have done against the
    champion at each port's capacity, from the crossings the service scored with both.

    Each model's list is the highest of its scores at each port, as many as the port's
    capacity; its catch is estimated by inverse propensity and doubly robust, from the
    logged selection probabilities, with 95% intervals. The comparison is kept in the
    registry beside the challenger (models promote shows it).
    """
    from scoring.policy import PolicyConfig
    from training.compare import CompareError, compare as estimate, format_comparison
    config = read_policy(policy_file) if policy_file else PolicyConfig()
    reg = _registry(registry)
    champion = champion or reg.resolve()
    challenger = challenger or reg.shadow_version()
    if not challenger:
        raise click.BadParameter("no model is in shadow: name one with --challenger",
                                 param_hint="--challenger")
    for version in (champion, challenger):
        reg.manifest(version)  # an unknown version is refused, naming it
    since_us = _utc_micros(since, "--since") if since else None
    store = _store()
    history = store.shadow_history(champion, challenger, since_us)
    try:
        result = estimate(history, config.capacity_of, champion=champion,
                          challenger=challenger)
    except CompareError as exc:
        _fail(f"{_safe_url(store.url)}: {exc}", EXIT_INPUT)
    result["since"] = since
    reg.save_comparison(challenger, result)
    for line in format_comparison(result):
        click.echo(line)
    if out:
        out.write_text(json.dumps(result, indent=2, default=float))


@main.command()
@registry_option
@click.option("--model", "version", help="Model version [default: the active one].")
@click.option("--data", "data", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Crossing log, CSV or Parquet (repeat for several) [default: the "
                   "service's store].")
@click.option("--since", help="Report on rows that crossed from this date on (UTC) "
              "[default: the model's validation window]; earlier rows are history and "
              "the drift reference.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              help="Referral policy TOML: each port's capacity, at which the report picks "
                   "the model's referrals [default: 2% everywhere].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default="report.html",
              show_default=True)
@handle_errors
def report(registry, version, data, since, policy_file, out):
    """Write the model report as one HTML page: budget curves, calibration, drift, who the
    model would refer, outcome test."""
    from training.report import ReportError, build_report
    since_us = _utc_micros(since, "--since") if since else None
    policy = read_policy(policy_file) if policy_file else None
    reg = _registry(registry)
    model, manifest = reg.load(version)
    in_service = reg.active_version()
    active = None if in_service is None else (
        (model, manifest) if in_service == manifest["version"] else reg.load(in_service))
    if data:
        frame, _ = _read(data, "raise")
        where = ", ".join(str(p) for p in data)
    else:
        from service.export import export_frame
        store = _store()
        where = _safe_url(store.url)
        frame = contract.parse_frame(export_frame(store), source=where).frame
    try:
        page = build_report(model, manifest, frame, active=active, since=since_us,
                            comparison=reg.comparison(manifest["version"]),
                            policy=policy)
    except ReportError as exc:
        _fail(f"{where}: {exc}", EXIT_INPUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    click.echo(f"wrote the report on model {manifest['version']} to {out}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn.")
@click.option("--check", is_flag=True, help="Only check the settings and that the address "
                                            "is free, then exit.")
def serve(host, port, workers, dev, check):
    """Run the scoring service (gunicorn sync workers; settings from SOUTHBOUND_*).

    Every setting is checked for type and range before any worker starts: a bad one is
    one line naming the variable and its value, exit 2."""
    from service.server import AddressInUse, check_free, run
    from scoring.settings import SettingError, from_environment
    try:
        config = from_environment()   # read once: checked here, before any worker starts
    except SettingError as exc:
        _fail(str(exc), EXIT_INPUT)
    try:
        if check:
            check_free(host, port)
            return
        if config["INSECURE_UNSIGNED_MODELS"]:
            click.echo("warning: INSECURE development mode (SOUTHBOUND_INSECURE_UNSIGNED_MODELS"
                       "=1): model signatures are NOT checked; any file in the registry can "
                       "run code in this service. Never in production", err=True)
        run(host, port, workers, dev)
    except AddressInUse as exc:
        _fail(str(exc), EXIT_REFUSED)


@main.group()
def keys():
    """The Ed25519 key pair that signs models (private: training side only)."""


@keys.command("create")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the pair [default: $SOUTHBOUND_VAR/keys or ./var/keys].")
@click.option("--if-missing", is_flag=True,
              help="Do nothing (exit 0) when the folder already holds a key pair.")
@handle_errors
def keys_create(folder, if_missing):
    """Make a new key pair: signing.key (the private key, mode 0600: it stays on the
    training side, where models are trained and signed) and signing.pub (the public key,
    for the service and every command that loads a model). Never replaces a key."""
    from models.signing import (PRIVATE_NAME, PUBLIC_NAME, create_key_pair,
                                default_keys_dir, key_id, load_public_key)
    folder = folder or default_keys_dir()
    if if_missing and (folder / PRIVATE_NAME).exists() and (folder / PUBLIC_NAME).exists():
        click.echo(f"key pair already in {folder} (key id "
                   f"{key_id(load_public_key(folder / PUBLIC_NAME))})")
        return
    private, public, kid = create_key_pair(folder)
    click.echo(f"created key pair {kid}: private key {private} (0600, training side only), "
               f"public key {public}")


@main.group()
def tokens():
    """API tokens (stored as hashes only)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["officer", "analyst", "admin"]), required=True)
@click.option("--name", required=True, help="Who or what holds the token.")
@actor_option
@handle_errors
def tokens_create(role, name, actor):
    """Create a token; it is printed once, alone on the last line."""
    from service.auth import create_token
    store = _store()
    token = create_token(store, role, name, actor=actor)
    click.echo(f"created {role} token {name!r} in {_safe_url(store.url)}; "
               "it is shown once and only its hash is kept:")
    click.echo(token)


@tokens.command("list")
@handle_errors
def tokens_list():
    """Every token by id, name, role, created and revoked (UTC); never the secret."""
    from service.auth import list_tokens
    rows = list_tokens(_store())
    if not rows:
        click.echo("no tokens")
        return
    click.echo(f"{'id':>5}  {'role':<8}  {'created (UTC)':<19}  {'revoked (UTC)':<19}  name")
    for row in rows:
        revoked = _iso(row["revoked_at"])[:19] if row["revoked_at"] else "-"
        click.echo(f"{row['id']:>5}  {row['role']:<8}  {_iso(row['created_at'])[:19]:<19}  "
                   f"{revoked:<19}  {row['name']}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@actor_option
@handle_errors
def tokens_revoke(token_id, actor):
    """Revoke token TOKEN_ID: every worker refuses it within SOUTHBOUND_TOKEN_CACHE_SECONDS."""
    from service.auth import revoke_token
    try:
        name = revoke_token(_store(), token_id, actor=actor)
    except KeyError:
        _fail(f"no token with id {token_id} (southbound tokens list shows them)", EXIT_REFUSED)
    except ValueError as exc:
        _fail(str(exc), EXIT_REFUSED)
    click.echo(f"revoked token {token_id} ({name!r})")


@main.command()
@click.option("--since", required=True, help="First day (UTC) of crossings to export.")
@click.option("--until", help="Export crossings before this date (UTC).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def export(since, until, out):
    """Write the store's crossings, decisions and outcomes as a crossing log."""
    from service.export import export_frame
    frame = export_frame(_store(), _utc_micros(since, "--since"),
                         _utc_micros(until, "--until") if until else None)
    _write_table(frame, out)
    click.echo(f"exported {plural(len(frame), 'crossing')} to {out}")


@main.command()
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
    from service import create_app
    from service.auth import create_token, revoke_token
    from service.replay import check, replay as send, truth_outcome
    contract.read_log(data)  # the contract, every row, naming file, row, column, value
    log = whole = pd.read_csv(data, dtype=str, keep_default_na=False)
    rows = np.arange(2, len(log) + 2)
    if since:
        stamps = pd.to_datetime(log["crossed_at"], utc=True, format="ISO8601")
        keep = (stamps >= pd.Timestamp(_utc_micros(since, "--since"), unit="us", tz="UTC")).to_numpy()
        log, rows = log.loc[keep], rows[keep]
    outcome = None
    if truth:  # refused when none of its ids is a crossing sent; unmatched ids counted
        _truth(truth, log.loc[log["direction"] == "outbound", ["crossing_id"]], whole)
        table = truth_table(truth, ("crossing_id", "carrier", "firearms", "rounds",
                                    "currency_usd"))
        outcome = truth_outcome(dict(zip(table["crossing_id"], zip(
            table["carrier"], table["firearms"], table["rounds"], table["currency_usd"]))))
    # a back-fill is one client sending as fast as it can: no per-token limit
    app = create_app({"LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_MINUTE": 0})
    already = check(app, log, data, lines=rows)
    stored = int(already.sum())
    log = log.loc[~already]
    click.echo(f"checked {plural(len(already), 'row')} of {data}; "
               + (f"{stored:,} already stored as they are, not sent again; " if stored else "")
               + "sending", err=True)
    store = app.extensions["southbound.store"]
    token = create_token(store, "officer", "replay")
    try:
        answers = send(app.test_client(), {"Authorization": f"Bearer {token}"}, log, outcome,
                       progress=lambda done, total: click.echo(
                           f"sent {done:,} of {total:,} rows", err=True))
    finally:
        revoke_token(store, token=token, actor="replay")
    referred = sum(a["refer"] for a in answers.values())
    click.echo(f"sent {plural(len(log), 'crossing')}; scored {len(answers):,} outbound, "
               f"{referred:,} referred" + (f"; {stored:,} already stored" if stored else ""))


def _store():
    from scoring.settings import from_environment
    from service.store import Store
    settings = from_environment()
    url = settings["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url, settings["SQLITE_SYNCHRONOUS"])
    store.migrate()
    return store


def _safe_url(url):
    """A database URL without its password."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
