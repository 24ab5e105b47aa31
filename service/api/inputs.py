"""What a view checks before it acts: the JSON body, a crossing (the document's schema,
the contract, the server's clock), and the fields it ignored.

Each ``get_*``/``checked_*`` helper raises the 4xx its docstring names, in the one error
shape of :mod:`service.errors`.
"""
from __future__ import annotations

import time

from flask import current_app, g, request

from scoring.contract import format_timestamp, show_json
from service.errors import ApiError
from service.openapi import check_body, check_integers, unknown_fields
from service.scorer import parse_crossing


def get_json_body():
    """The request's JSON body; 400 when it is not JSON or is nested deeper than the
    parser's recursion allows (no body of this API is more than four levels deep), 415
    when not sent as JSON."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # not a ValueError: silent=True lets it through as a 500
        raise ApiError(400, "invalid_json",
                       "the body is nested too deeply to be a request of this API") from None
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    return body


#: the longest model version the store records (its model_version columns)
VERSION_MAX = 64


def get_version(version, refused):
    """``version`` from a route, when it could name a registered version; a 404 otherwise
    (longer than :data:`VERSION_MAX`, or holding a character no version has), audited as
    ``refused`` with the value quoted short, never as the row's target (a column of 128)."""
    if len(version) <= VERSION_MAX and version.isprintable():
        return version
    store = current_app.extensions["southbound.store"]
    with store.write() as conn:
        store.audit(conn, g.actor, refused, version=show_json(version),
                    reason="not a model version")
    raise ApiError(404, "not_found", f"no model version {show_json(version)}: a version has "
                   f"at most {VERSION_MAX} printable characters", "version")


def checked_crossing(body, direction, prefix=""):
    """A crossing's canonical record: the document's schema first, then the contract,
    then the server's clock (400 for a ``crossed_at`` too far in the future)."""
    if isinstance(body, dict):
        check_body(_schema(direction), body, prefix)
    # (the contract's identifier rule refuses control characters in crossing_id: U+001F,
    # which the store keeps for its aside keys, among them)
    record = parse_crossing(body, direction, prefix)
    check_integers(record, prefix)
    check_clock(body.get("crossed_at"), record["crossed_at"], prefix + "crossed_at")
    return record


def _schema(direction):
    return "OutboundCrossing" if direction == "outbound" else "InboundCrossing"


def check_clock(value, micros, field):
    """400 when ``micros`` (UTC µs) is further ahead of the server's clock than the skew
    allowed (SOUTHBOUND_MAX_CLOCK_SKEW_SECONDS): a booth clock or a typo, never a crossing."""
    skew = float(current_app.config["MAX_CLOCK_SKEW_SECONDS"])
    now = time.time_ns() // 1000
    if micros > now + skew * 1_000_000:
        ahead = (micros - now) / 1e6
        raise ApiError(400, "invalid_value",
                       f"value {show_json(value)} is {ahead:,.0f} s in the future: the "
                       f"server's time is {format_timestamp(now - now % 1_000_000)} and at "
                       f"most {skew:g} s of clock skew is allowed", field)


def ignored_fields(name, body, prefix=""):
    """The body's fields the document does not name, counted in the metrics."""
    return count_ignored(unknown_fields(name, body, prefix) if isinstance(body, dict) else [])


def count_ignored(fields):
    """``fields``, counted by endpoint in ``southbound_ignored_fields_total``."""
    if fields:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        current_app.extensions["southbound.metrics"].ignored_fields.labels(endpoint).inc(
            len(fields))
    return fields


def with_ignored(answer, fields):
    """``answer`` with ``ignored_fields`` when some were ignored (absent otherwise)."""
    return dict(answer, ignored_fields=fields) if fields else answer
