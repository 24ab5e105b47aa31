"""``southbound evaluate``, ``report`` and ``compare``: how a model does on rows it never
saw, its report page, and the challenger in shadow against the champion."""
from __future__ import annotations

import json
from pathlib import Path

import click

from scoring import contract
from scoring.private import open_private
from scoring.wording import plural
from southbound.common import checked_truth, open_registry, open_store, read, safe_url
from southbound.inputs import read_policy
from southbound.options import (EXIT_INPUT, actor_option, data_option, fail, handle_errors,
                                on_error_option, registry_option, utc_micros)


@click.command()
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
    from training.evaluate import format_report
    from training.grade import evaluate_window
    from training.window import EmptyWindow, NothingUnseen
    model, manifest = open_registry(registry).load(version)
    frame, _ = read(data, on_error)
    names = ", ".join(map(str, data))
    try:
        result = evaluate_window(
            model, manifest, frame, utc_micros(since, "--since") if since else None,
            truth=(lambda rows: checked_truth(truth, rows, frame)) if truth is not None else None)
    except NothingUnseen as exc:
        fail(f"{names}: model {manifest['version']}: {exc}", EXIT_INPUT)
    except EmptyWindow as exc:
        raise contract.ContractError(f"{names}: {exc}") from None
    report, window = result.report, result.report["window"]
    click.echo(f"model {manifest['version']}")
    click.echo(f"graded: {plural(report['rows'], 'outbound row')} from {window['from']} to "
               f"{window['to']}: {window['why']}")
    if window["warning"]:
        click.echo(f"warning: {window['warning']}", err=True)
    if result.truth is not None and not result.truth["matched"].all():
        click.echo(f"warning: {truth}: the truth covers {int(result.truth['matched'].sum()):,} "
                   f"of {len(result.truth):,} evaluated crossings; the others count as "
                   "non-carriers", err=True)
    click.echo(format_report(report))
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        from models.registry import json_safe
        out.write_text(json.dumps(json_safe(report), indent=2, default=float,
                                  allow_nan=False) + "\n")
        click.echo(f"wrote {out}")


@click.command()
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
    reg = open_registry(registry)
    champion = champion or reg.resolve()
    challenger = challenger or reg.shadow_version()
    if not challenger:
        raise click.BadParameter("no model is in shadow: name one with --challenger",
                                 param_hint="--challenger")
    for version in (champion, challenger):
        reg.manifest(version)  # an unknown version is refused, naming it
    since_us = utc_micros(since, "--since") if since else None
    store = open_store()
    history = store.shadow_history(champion, challenger, since_us)
    try:
        result = estimate(history, config.capacity_of, champion=champion,
                          challenger=challenger)
    except CompareError as exc:
        fail(f"{safe_url(store.url)}: {exc}", EXIT_INPUT)
    result["since"] = since
    reg.save_comparison(challenger, result)
    for line in format_comparison(result):
        click.echo(line)
    if out:
        out.write_text(json.dumps(result, indent=2, default=float))


@click.command()
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
@actor_option
@handle_errors
def report(registry, version, data, since, policy_file, out, actor):
    """Write the model report as one HTML page: budget curves, calibration, drift, who the
    model would refer, outcome test. Audited in the service's store (``report``: the
    version, the source and the file), which must be reachable even with --data."""
    from models.audit import record
    from training.report import ReportError, build_report
    store = open_store()  # unreachable: refused before anything is read or written
    since_us = utc_micros(since, "--since") if since else None
    policy = read_policy(policy_file) if policy_file else None
    reg = open_registry(registry)
    model, manifest = reg.load(version)
    in_service = reg.active_version()
    active = None if in_service is None else (
        (model, manifest) if in_service == manifest["version"] else reg.load(in_service))
    if data:
        frame, _ = read(data, "raise")
        where = ", ".join(str(p) for p in data)
    else:
        from service.export import export_frame
        where = safe_url(store.url)
        frame = contract.parse_frame(export_frame(store), source=where).frame
    try:
        page = build_report(model, manifest, frame, active=active, since=since_us,
                            comparison=reg.comparison(manifest["version"]),
                            policy=policy)
    except ReportError as exc:
        fail(f"{where}: {exc}", EXIT_INPUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_private(out, "w", encoding="utf-8") as handle:  # who would be referred
        handle.write(page)
    record(store, actor, "report", target=manifest["version"], model_version=in_service,
           source=where, out=str(out.resolve()), rows=len(frame), via="southbound report")
    click.echo(f"wrote the report on model {manifest['version']} to {out}")


COMMANDS = (evaluate, compare, report)
