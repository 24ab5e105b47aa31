"""``southbound train``, ``backtest`` and ``simulate``: a model from logs, the pipeline
graded over rolling origins, and policies in a closed loop."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from scoring import contract
from southbound.common import (checked_truth, on_cluster, open_registry, open_store, read,
                               report_sources)
from southbound.inputs import read_policy, truth_table
from southbound.options import (EXIT_INPUT, actor_option, data_files_option, data_option, days,
                                engine_options, fail, handle_errors, on_error_option, pipeline,
                                registry_option, utc_micros)


def train_config(exclude=(), seed=0, calibration=None, weighting=None, until=None,
                 include=(), picks=None):
    """The pipeline's configuration from the options: the features left out by default
    (``DEFAULT_EXCLUDED``) and ``exclude``, less ``include``; a bad feature name is
    refused."""
    from scoring.features import resolve_exclusions
    from training.config import DEFAULT_EXCLUDED
    from training.fit import TrainConfig
    for names, hint in ((exclude, "--exclude-feature"), (include, "--include-feature")):
        try:
            resolve_exclusions(names)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=hint)
    off = tuple(n for n in dict.fromkeys(DEFAULT_EXCLUDED + tuple(exclude)) if n not in include)
    chosen = {k: v for k, v in (("calibration", calibration), ("weighting", weighting),
                                ("picks", picks)) if v}
    return TrainConfig(exclude=off, until=until, seed=seed, **chosen)


include_option = click.option(
    "--include-feature", "include", multiple=True,
    help="Put back a feature the model leaves out by default (vehicle_make); repeatable.")
# on by default: a backtest without it cannot say whether the pipeline beats its plain self
plain_option = click.option(
    "--plain/--no-plain", default=True, show_default=True,
    help="Also train the pipeline's plain candidate (context features and plate history "
         "counts, unweighted) at every origin and compare the two on the same horizon: "
         "better, worse, or the log cannot tell. About doubles the time spent fitting.")


def plain_config(config, plain):
    """The plain candidate of the pipeline ``config`` when asked for, else None."""
    from training.config import plain_candidate
    return plain_candidate(config) if plain else None


def check_span(frame, config, data):
    """Refuse, naming the logs, a log too short for the backtest's origins (its span and
    the span they need), before any feature or model is computed."""
    from training.backtest import origins_for
    from training.fit import TrainingError
    outbound = (frame["direction"] == "outbound").to_numpy()
    try:
        origins_for(frame["crossed_at"].to_numpy()[outbound], config)
    except TrainingError as exc:
        raise contract.ContractError(f"{', '.join(map(str, data))}: {exc}") from None


@click.command()
@data_files_option
@registry_option
@on_error_option
@click.option("--exclude-feature", "exclude", multiple=True,
              help="Switch a feature off (e.g. plate_jurisdiction); a feature of a group "
                   "(plate_country, plate_jurisdiction) switches off its whole group; "
                   "repeatable.")
@include_option
@click.option("--until", help="Use only rows that crossed before this date (UTC).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--promote", is_flag=True, help="Make the new model active at once.")
@click.option("--later-wins", is_flag=True,
              help="A row of a later --data file replaces the row of the same crossing_id "
                   "in an earlier one (e.g. the service's export after the log it replayed); "
                   "without it a repeated id is an error.")
@pipeline
@click.option("--backtest", "origins", type=click.IntRange(1, 52),
              help="Also backtest the pipeline on these logs with this many 30-day "
                   "origins, and keep the table in the manifest (models show, the report).")
@plain_option
@actor_option
@engine_options
@handle_errors
def train(data, registry, on_error, exclude, include, until, seed, promote, later_wins,
          calibration, weighting, picks, origins, plain, actor, engine, scheduler):
    """Train a risk model on crossing logs and register it.

    With --engine dask, the features, counts and out-of-fold scores are computed on a
    Dask cluster (--scheduler, $SOUTHBOUND_DASK_SCHEDULER, or worker processes on this
    machine) and only the labelled rows come to this machine: the same model as
    in-process where the log gives every selection probability.
    """
    from scoring.features_dask import log_files
    from training.fit import train as fit
    until_us = utc_micros(until, "--until") if until else None
    config = train_config(exclude, seed, calibration, weighting, until_us, include, picks)
    if engine == "dask":
        for flag, value, why in (("--later-wins", later_wins, "a repeated crossing_id is refused"),
                                 ("--backtest", origins, "the backtest runs in-process: run "
                                  "southbound backtest on the log")):
            if value:
                raise click.BadParameter(f"not with --engine dask: {why}", param_hint=flag)
        from training.fit_dask import train_dask
        model, manifest = on_cluster(scheduler, lambda client: train_dask(
            list(data), client, config, progress=lambda m: click.echo(m, err=True),
            on_error=on_error, on_read=report_sources),
            "no model was registered")
        register(model, manifest, registry, promote, actor)
        return
    frame, sources = read(log_files(list(data)), on_error, later_wins)
    if origins:  # a log too short for the origins is refused before any training
        from training.backtest import BacktestConfig
        backtested = (frame.loc[frame["crossed_at"].to_numpy() < until_us] if until_us
                      else frame)
        check_span(backtested, BacktestConfig(origins=origins), data)
    model, manifest = fit(frame, config, progress=lambda m: click.echo(m, err=True),
                          sources=sources)
    if origins:
        from training.backtest import backtest as run, format_backtest
        result = run(backtested, None, BacktestConfig(origins=origins), config,
                     progress=lambda m: click.echo(m, err=True),
                     plain=plain_config(config, plain))
        click.echo(format_backtest(result), err=True)
        manifest["backtest"] = result
    register(model, manifest, registry, promote, actor)


def register(model, manifest, registry, promote, actor):
    """Save a trained model (audited); make it active with --promote, or when none is."""
    from models import audit
    reg = open_registry(registry)
    store = open_store()  # every registration is audited: unreachable, nothing is saved
    version = audit.register(reg, store, model, manifest, promote, actor)
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


@click.command()
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
@include_option
@pipeline
@click.option("--every-carrier-labelled", is_flag=True,
              help="Train on every outbound row with its true label (needs --truth): the "
                   "limit of the features and training, whatever the labels.")
@plain_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the backtest as JSON here.")
@handle_errors
def backtest(data, on_error, truth, origins, horizon, step, budgets, exclude, include,
             calibration, weighting, picks, every_carrier_labelled, plain, seed, out):
    """Rolling-origin backtest: train before each origin, grade the horizon after it.

    Each origin trains the pipeline (the same code as train) on every row before it
    and grades the next --horizon days at each budget: the estimate from inspected
    rows (Horvitz-Thompson, with its interval) and, with --truth, the true recall.
    Prints a table per origin and the mean and spread; then, unless --no-plain, the
    pipeline against its plain candidate at the same origins: the difference in
    estimated recall with its paired 95% interval, per origin and pooled, and the
    verdict (better, worse, or cannot tell when the interval holds zero).
    """
    from training.backtest import BUDGETS, BacktestConfig, backtest as run, format_backtest
    if every_carrier_labelled and truth is None:
        raise click.BadParameter("needs --truth", param_hint="--every-carrier-labelled")
    config = BacktestConfig(origins=origins, horizon_days=days(horizon, "--horizon"),
                            step_days=days(step, "--step") if step else None,
                            budgets=tuple(sorted(budgets)) or BUDGETS)
    pipeline_config = train_config(exclude, seed, calibration, weighting, include=include,
                                   picks=picks)
    frame, _ = read(data, on_error)
    check_span(frame, config, data)
    truth_frame = None
    if truth is not None:  # checked, and refused when it is the truth of another log
        outbound = frame.loc[frame["direction"] == "outbound", ["crossing_id"]]
        truth_rows = checked_truth(truth, outbound, frame)
        truth_frame = outbound.assign(carrier=truth_rows["carrier"])
    result = run(frame, truth_frame, config, pipeline_config,
                 progress=lambda m: click.echo(m, err=True),
                 labels="every-carrier" if every_carrier_labelled else "observed",
                 plain=plain_config(pipeline_config, plain))
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


@click.command()
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
@pipeline
@handle_errors
def simulate(data, on_error, truth, policy_files, retrain, start, detection, seed, out, plot,
             calibration, weighting, picks):
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
        every = days(retrain, "--retrain")
    frame, _ = read(data, on_error)
    outbound = frame.loc[frame["direction"] == "outbound", ["crossing_id"]]
    checked_truth(truth, outbound, frame)  # refused when it is the truth of another log
    table = truth_table(truth, ("crossing_id", "carrier", "firearms", "rounds",
                                "currency_usd"))
    if start:
        start_us = utc_micros(start, "--start")
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
                       train=train_config(seed=seed, calibration=calibration,
                                          weighting=weighting, picks=picks))
    try:
        result = run(frame, table, policies, config,
                     progress=lambda message: click.echo(message, err=True))
    except SimulationError as exc:
        fail(f"{', '.join(map(str, data))}: {exc}", EXIT_INPUT)
    for line in format_simulation(result):
        click.echo(line)
    if out:
        from models.registry import json_safe
        out.write_text(json.dumps(json_safe(result), indent=2, default=float) + "\n")
        click.echo(f"wrote {out}")
    if plot:
        plot_simulation(result, plot)
        click.echo(f"wrote {plot}")


COMMANDS = (train, backtest, simulate)
