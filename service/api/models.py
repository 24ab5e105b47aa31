"""The model in service: its manifest, the registry's versions, activation, the
challenger in shadow."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from models.registry import RegistryError, evidence
from scoring.wording import FEW_SEIZURES
from service.api.inputs import get_json_body, get_version, ignored_fields, with_ignored
from service.auth import require
from service.errors import ApiError, without_paths

bp = Blueprint("models", __name__, url_prefix="/v1")


def _holder():
    return current_app.extensions["southbound.models"]


@bp.get("/model")
@require("officer")
def active():
    """The active model's version and the caller's role (the console offers analysts the
    model report); analysts and admins also get its manifest and metrics and the
    referral policy in force. Officers get no manifest: its per-port score quantiles
    are the referral thresholds, and its figures are the analysts' business."""
    served = _holder().current()
    answer = {"version": served.version, "role": g.role}
    if g.role != "officer":
        answer.update(policy_version=served.policy.version, manifest=served.manifest)
    return jsonify(answer)


@bp.get("/models")
@require("analyst")
def listing():
    """Every registered version, oldest first, with the active one marked.

    A registry that cannot be read (active.json or a manifest garbled) is a 503 that
    says what is wrong; the model in service keeps scoring meanwhile.
    """
    registry = _holder().registry
    try:
        active_version = registry.active_version()
        shadow = registry.shadow_version()
        manifests = registry.versions()
        rollback_to = registry.rollback_target()
        views = [_version_view(registry, m, active_version, shadow) for m in manifests]
    except RegistryError as exc:
        raise ApiError(503, "registry_unavailable", _said(exc)) from None
    return jsonify({"active": active_version, "shadow": shadow, "rollback_to": rollback_to,
                    "versions": views})


def _version_view(registry, manifest, active_version, shadow):
    """One version as the analyst's console shows it: its training window, its validation
    figures at a 1% budget (as ``models list``), and the evidence for promoting it."""
    version = manifest["version"]
    found, words = evidence(registry, version, active_version)
    kept = registry.comparison(version)
    return {"version": version, "created_at": manifest.get("created_at"),
            "excluded_features": manifest.get("excluded_features", []),
            "windows": manifest.get("data", {}).get("windows"),
            "active": version == active_version, "shadow": version == shadow,
            "validation": _validation(manifest),
            "comparison": None if kept is None else {
                "champion": kept.get("champion"), "compared_at": kept.get("compared_at"),
                "verdict": kept.get("verdict"),
                "crossings": (kept.get("labels") or {}).get("crossings"),
                "labelled_seizures": (kept.get("labels") or {}).get("labelled_seizures")},
            "evidence": words, "evidence_found": found}


def _validation(manifest):
    """Recall and hit rate at a 1% budget on the version's own validation window, with the
    seizures they rest on; None for a manifest without them."""
    budgets = (manifest.get("metrics") or {}).get("validation", {}).get("budgets") or []
    row = next((b for b in budgets if b.get("budget") == 0.01), None)
    if row is None:
        return None
    seizures = (manifest.get("data", {}).get("split", {}).get("validate") or {}).get("seizures")
    return {"budget": 0.01, "recall": row.get("recall"), "recall_ci": row.get("recall_ci"),
            "hit_rate": row.get("hit_rate"), "seizures": seizures,
            "unstable": seizures is None or seizures < FEW_SEIZURES}


@bp.post("/models/<version>/activate")
@require("analyst")
def activate(version):
    """Serve another registered version; a bad artifact is refused and the old one stays."""
    version = get_version(version, "activate_refused")
    holder = _holder()
    store = current_app.extensions["southbound.store"]
    previous = holder.served.version if holder.served else None
    require, ignored = _activation_body()
    found, words = evidence(holder.registry, version, previous)
    if require and not found:
        with store.write() as conn:
            store.audit(conn, g.actor, "activate_refused", target=version,
                        model_version=previous, reason=words)
        raise ApiError(409, "comparison_required", words, "require_comparison")
    try:
        manifest = holder.activate(version, actor=g.actor)
    except RegistryError as exc:
        _refused(store, "activate_refused", "activation_refused", version, previous, exc)
    _served_changed(store, holder, "activate", version, previous)
    return jsonify(with_ignored({
        "version": version, "previous": previous, "manifest": manifest, "evidence": words,
        "comparison": holder.registry.comparison(version) if found else None}, ignored))


def _served_changed(store, holder, action, version, previous):
    """Audit a change of the model in service (activation or rollback) and move the
    model gauge to it."""
    with store.write() as conn:
        store.audit(conn, g.actor, action, target=version, model_version=version,
                    policy_version=holder.served.policy.version, previous=previous)
    metrics = current_app.extensions["southbound.metrics"]
    metrics.model.labels(version).set(1)
    if previous and previous != version:
        metrics.model.labels(previous).set(0)


def _refused(store, action, code, version, in_service, exc):
    """Audit a refused change of the model in service or in shadow, and answer 404 (no
    such version) or 409 (its artifact, or the request, is refused)."""
    with store.write() as conn:
        store.audit(conn, g.actor, action, target=version, model_version=in_service,
                    reason=str(exc))
    status = 404 if "no model version" in str(exc) else 409
    raise ApiError(status, code, _said(exc), "version") from None


def _said(exc):
    """A registry error as the answer says it: the version, never the registry's path."""
    return without_paths(exc, _holder().registry.root)


def _activation_body():
    """The optional body: (``require_comparison``, default false; the fields ignored)."""
    if not request.content_length:
        return False, []
    body = get_json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "send a JSON object, or no body")
    value = body.get("require_comparison", False)
    if not isinstance(value, bool):
        raise ApiError(400, "invalid_value", "must be true or false", "require_comparison")
    return value, ignored_fields("Activation", body)


@bp.post("/models/rollback")
@require("analyst")
def rollback():
    """Serve again the version that was active before the current one. Audited."""
    holder = _holder()
    store = current_app.extensions["southbound.store"]
    previous = holder.served.version if holder.served else None
    try:
        version = holder.rollback(actor=g.actor)
    except RegistryError as exc:
        with store.write() as conn:
            store.audit(conn, g.actor, "rollback_refused", model_version=previous,
                        reason=str(exc))
        raise ApiError(409, "rollback_refused", _said(exc)) from None
    _served_changed(store, holder, "rollback", version, previous)
    return jsonify({"version": version, "previous": previous})


@bp.post("/models/<version>/shadow")
@require("analyst")
def set_shadow(version):
    """Score ``version`` in shadow beside the model in service (it must verify and load):
    every crossing scored from now on is also scored by it and stored apart; it never
    changes a decision. Replaces any earlier challenger. Audited."""
    version = get_version(version, "shadow_refused")
    holder = _holder()
    store = current_app.extensions["southbound.store"]
    served = holder.served.version if holder.served else None
    try:
        previous = holder.set_shadow(version, actor=g.actor)
    except RegistryError as exc:
        _refused(store, "shadow_refused", "shadow_refused", version, served, exc)
    with store.write() as conn:
        store.audit(conn, g.actor, "shadow", target=version, model_version=served,
                    previous=previous)
    return jsonify({"shadow": version, "previous": previous, "active": served})


@bp.delete("/models/<version>/shadow")
@require("analyst")
def end_shadow(version):
    """Stop scoring ``version`` in shadow (404 when it is not the challenger). Audited."""
    version = get_version(version, "shadow_end_refused")
    holder = _holder()
    store = current_app.extensions["southbound.store"]
    try:
        current = holder.registry.shadow_version()
    except RegistryError as exc:
        raise ApiError(503, "registry_unavailable", _said(exc)) from None
    if current != version:
        raise ApiError(404, "not_found", f"model {version} is not in shadow"
                       + (f" ({current} is)" if current else ": no challenger is"), "version")
    holder.end_shadow(actor=g.actor)
    with store.write() as conn:
        store.audit(conn, g.actor, "shadow_end", target=version,
                    model_version=holder.served.version if holder.served else None)
    return jsonify({"shadow": None, "previous": version})
