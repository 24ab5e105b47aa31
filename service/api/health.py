"""Liveness, readiness, metrics and the OpenAPI document (no token needed)."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from service.errors import ApiError
from service.metrics import metrics_response
from service.openapi import document
from service.store import StoreUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger("southbound.service")


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """The store answers and a verified model is loaded; 503 naming only what is down.

    The body is public (no token): it never carries the database's host, port or
    error, nor the registry's path; those go to the log.
    """
    ext = current_app.extensions
    down = []
    try:
        ext["southbound.store"].ping()
    except StoreUnavailable as exc:
        log.error("not ready: store unavailable: %s", exc)
        down.append("store unavailable")
    holder = ext["southbound.models"]
    try:
        served = holder.current()
    except ApiError as exc:
        # the log names the registry's path (the answer never does)
        log.error("not ready: no model: %s", holder.error or exc.message)
        # the signature's verdict in a few words (no path): why nothing verified
        down.append("no model to score with" + (f" ({holder.refused})" if holder.refused
                                                  else ""))
    if down:
        raise ApiError(503, "not_ready", "not ready: " + "; ".join(down))
    return jsonify({"status": "ready", "model_version": served.version})


@bp.get("/metrics")
def metrics():
    """Prometheus text format."""
    return metrics_response(current_app)


@bp.get("/v1/openapi.json")
def openapi():
    """The API's OpenAPI 3 document."""
    return jsonify(document())
