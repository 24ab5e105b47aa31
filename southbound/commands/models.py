"""``southbound models``: list, show, promote, shadow, sign and roll back registered
models; each change of the model in service is audited (:mod:`models.audit`)."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from scoring.settings import site
from scoring.wording import plural
from southbound.common import open_registry, open_store, read
from southbound.options import (EXIT_INPUT, EXIT_REFUSED, actor_option, fail, handle_errors,
                                registry_option, utc_micros)


@click.group()
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
    reg = open_registry(registry)
    active = reg.active_version()
    if since and not data:
        raise click.BadParameter("--since grades on a log: give --data too",
                                 param_hint="--since")
    if data:
        _grade_listing(reg, active, data, utc_micros(since, "--since") if since else None)
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
    frame, _ = read(data, "raise")
    try:
        window, grades = grade_versions(reg, frame, since)
    except GradeError as exc:
        fail(f"{', '.join(str(p) for p in data)}: {exc}", EXIT_INPUT)
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
    reg = open_registry(registry)
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
    from models import audit
    from models.registry import evidence
    reg = open_registry(registry)
    store = open_store()  # unreachable: refused before anything changes
    found, text = evidence(reg, version, reg.active_version())
    click.echo(text, err=not found)
    if require_comparison and not found:
        fail(f"refusing to promote {version} without a comparison (--require-comparison)",
             EXIT_REFUSED)
    audit.promote(reg, store, version, actor)
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
    from models import audit
    reg = open_registry(registry)
    if end and version:
        raise click.BadParameter("give a VERSION or --end, not both", param_hint="--end")
    if not end and not version:
        current = reg.shadow_version()
        click.echo(f"in shadow: {current}" if current else "no model in shadow")
        return
    store = open_store()  # unreachable: refused before anything changes
    if end:
        previous = audit.end_shadow(reg, store, actor)
        click.echo("no model was in shadow" if previous is None
                   else f"model {previous} is no longer in shadow")
        return
    active = reg.active_version()
    previous = audit.set_shadow(reg, store, version, actor)
    click.echo(f"model {version} is in shadow beside {active}"
               + (f" (replacing {previous})" if previous and previous != version else ""))


@models.command("sign")
@click.argument("version")
@registry_option
@actor_option
@handle_errors
def models_sign(version, registry, actor):
    """Check VERSION and sign its manifest with the private key (training side only).

    For versions saved unsigned, with the retired shared key (SOUTHBOUND_SIGNING_KEY,
    whose HMAC is checked first when that variable is set) or under a retired key pair.
    The artifact must match its recorded SHA-256; it is never unpickled. Signing vouches
    that the artifact is the one trained: sign only what your own training wrote. Audited (a version already
    signed with this key writes nothing)."""
    from models import audit
    from models.signing import key_id
    reg = open_registry(registry)
    store = open_store()  # unreachable: refused before anything is signed
    signed = audit.sign(reg, store, version, actor, legacy_key=site().legacy_signing_key)
    kid = key_id(reg.public_key()) if reg.public_key() else "?"
    click.echo(f"signed model {version} in {reg.root} (key id {kid})" if signed
               else f"model {version} is already signed with this key (key id {kid})")


@models.command("rollback")
@registry_option
@actor_option
@handle_errors
def models_rollback(registry, actor):
    """Re-activate the model that was active before the current one; audited."""
    from models import audit
    reg = open_registry(registry)
    store = open_store()
    version = audit.rollback(reg, store, actor)
    click.echo(f"active model is now {version}")


COMMANDS = (models,)
