"""POST /v1/score and /v1/score/batch: outbound crossings in, scores and decisions out."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from service.access import client_address
from service.api.inputs import (checked_crossing, count_ignored, get_json_body, ignored_fields,
                                with_ignored)
from service.auth import charge, require
from service.errors import ApiError
from service.scorer import score_crossing, shown

bp = Blueprint("score", __name__, url_prefix="/v1/score")


def _parts():
    ext = current_app.extensions
    return (ext["southbound.store"], ext["southbound.models"].current(),
            ext["southbound.metrics"], ext["southbound.rng"], ext["southbound.models"])


@bp.post("")
@require("officer")
def score_one():
    """Score one outbound crossing."""
    body = get_json_body()
    record = checked_crossing(body, "outbound")
    store, served, metrics, rng, holder = _parts()
    answer, created = score_crossing(store, served, metrics, record, g.actor, rng, holder,
                                     client_address())
    return jsonify(with_ignored(shown(answer, g.role),
                                ignored_fields("OutboundCrossing", body))), \
        201 if created else 200


@bp.post("/batch")
@require("officer")
def score_batch():
    """Score up to BATCH_LIMIT outbound crossings, oldest first so each sees the ones before;
    each crossing counts as one request against the token's rate limit."""
    body = get_json_body()
    items = body.get("crossings") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid_value", "send {\"crossings\": [ ... ]} with at least one",
                       "crossings")
    limit = current_app.config["BATCH_LIMIT"]
    if len(items) > limit:
        raise ApiError(413, "payload_too_large", f"at most {limit} crossings per batch",
                       "crossings")
    charge(len(items) - 1)  # each crossing counts against the rate limit; 429 over it
    records = [checked_crossing(item, "outbound", f"crossings[{i}].")
               for i, item in enumerate(items)]
    ids = [r["crossing_id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ApiError(400, "invalid_value", "a crossing_id appears twice in the batch",
                       "crossings")
    store, served, metrics, rng, holder = _parts()
    client = client_address()
    answers = {}
    for record in sorted(records, key=lambda r: (r["crossed_at"], r["crossing_id"])):
        answers[record["crossing_id"]], _ = score_crossing(store, served, metrics, record,
                                                            g.actor, rng, holder, client)
    ignored = count_ignored([str(f) for f in body if f != "crossings"])
    for i, item in enumerate(items):
        ignored += ignored_fields("OutboundCrossing", item, f"crossings[{i}].")
    return jsonify(with_ignored({"results": [shown(answers[i], g.role) for i in ids]},
                                ignored)), 200
