"""Liveness, readiness, metrics and the OpenAPI document (no token needed)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.errors import ApiError
from service.metrics import metrics_response
from service.openapi import document
from service.store import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """The store answers and a model is loaded; 503 otherwise."""
    ext = current_app.extensions
    try:
        ext["southbound.store"].ping()
    except StoreUnavailable as exc:
        raise ApiError(503, "not_ready", f"store: {exc}") from None
    served = ext["southbound.models"].current()
    return jsonify({"status": "ready", "model_version": served.version})


@bp.get("/metrics")
def metrics():
    """Prometheus text format."""
    return metrics_response(current_app)


@bp.get("/v1/openapi.json")
def openapi():
    """The API's OpenAPI 3 document."""
    return jsonify(document())
