"""The model report for analysts: ``GET /reports/<version>``, one self-contained HTML page.

The page is built from the store's traffic (its crossings exported as a log) with the
model in service drawn beside the requested one. Building it takes seconds, so it is
never built here, in a request worker: :mod:`service.report_jobs` builds it in a child
process and caches it by the version, the model in service and the day the store's
data ends. Until the page is ready the route answers 202 with ``Retry-After``; while
another page is being built (one at a time per instance), 503 ``report_busy`` with it.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

from models.registry import RegistryError
from service.api.inputs import get_version
from service.auth import require
from service.errors import ApiError, without_paths
from service.report_jobs import RETRY_AFTER, Busy, ReportJobs, data_day, page_name
from service.store import crossings, outcomes

bp = Blueprint("reports", __name__)
JOBS = "southbound.reports"


@bp.record_once
def _init(state):
    config = state.app.config
    state.app.extensions[JOBS] = ReportJobs(config["REPORT_DIR"], {
        "SOUTHBOUND_DATABASE_URL": config["DATABASE_URL"],
        "SOUTHBOUND_REGISTRY": str(config["REGISTRY"]),
        "SOUTHBOUND_PUBLIC_KEY": str(config["PUBLIC_KEY"] or ""),
        "SOUTHBOUND_INSECURE_UNSIGNED_MODELS": "1" if config["INSECURE_UNSIGNED_MODELS"] else "0",
        "SOUTHBOUND_SQLITE_SYNCHRONOUS": config["SQLITE_SYNCHRONOUS"],
        "SOUTHBOUND_POLICY_FILE": str(config["POLICY_FILE"] or "")})


def check_version(registry, version):
    """A registered version's manifest (signature checked): 404 if unknown, 409 if refused.

    The artifact itself is checked by the build, which answers 409 in its turn.
    """
    try:
        manifest = registry.manifest(version)
        registry.verify_signature(version, manifest)
    except RegistryError as exc:
        said = without_paths(exc, registry.root)  # the version, never the registry's path
        if "no model version" in str(exc):
            raise ApiError(404, "not_found", said, "version") from None
        raise ApiError(409, "artifact_refused", said, "version") from None
    return manifest


def _served(holder):
    """The version in service, or None when there is none (the report still renders)."""
    try:
        return holder.current().version
    except ApiError:
        return None


def _data_ends(store):
    """The UTC day of the store's latest crossing or outcome; None when nothing is stored."""
    with store.engine.connect() as conn:
        latest = [conn.execute(sa.select(sa.func.max(column))).scalar_one()
                  for column in (crossings.c.crossed_at, outcomes.c.recorded_at)]
    latest = [t for t in latest if t is not None]
    return data_day(max(latest)) if latest else None


@bp.get("/reports/<version>")
@require("analyst")
def report(version):
    """The cached report page (200), or 202 while it is built; 404 unknown version or no
    traffic, 409 an artifact refused, 503 with Retry-After while another page is built."""
    ext = current_app.extensions
    store, holder, jobs = ext["southbound.store"], ext["southbound.models"], ext[JOBS]
    check_version(holder.registry, get_version(version, "report_refused"))
    day = _data_ends(store)
    if day is None:
        raise ApiError(404, "no_traffic", "the store: no crossings to report on")
    served = _served(holder)
    name = page_name(version, served, day)
    state, found = jobs.lookup(name)
    if state == "ready":
        return Response(found, mimetype="text/html")
    if state == "failed":
        raise ApiError(found["status"], found["code"], found["message"], found.get("field"))
    try:
        jobs.start(name, version, served)
    except Busy:
        error = ApiError(503, "report_busy", "another report is being built on this server "
                         f"(one at a time); retry in {RETRY_AFTER} s")
        error.retry_after = RETRY_AFTER
        raise error from None
    response = jsonify({"status": "building", "version": version,
                        "retry_after": RETRY_AFTER})
    response.status_code = 202
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response
