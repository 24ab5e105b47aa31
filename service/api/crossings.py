"""Crossings: inbound history from the entry systems, outcomes of inspections, look-ups."""
from __future__ import annotations

import json
import math
import re

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request

from scoring.contract import (COLUMNS, ContractError, format_timestamp, identifier,
                              outcome_problem, outcome_review, parse_value, show_json)
from service.access import record_read
from service.api.inputs import checked_crossing, get_json_body, ignored_fields, with_ignored
from service.auth import ROLES, require
from service.errors import ApiError, from_contract
from service.openapi import (INTEGER_KINDS, TEXT_MAX, check_body, check_integers,
                             ports_in_force)
from service.scorer import public_answer, repeat_conflict, shown
from service.store import aside_key, crossings, scores, stored_id

bp = Blueprint("crossings", __name__, url_prefix="/v1/crossings")

OUTCOME_FIELDS = ("inspected", "seizure", "firearms_seized", "rounds_seized",
                  "currency_seized_usd")
#: the contract's integer columns: integers in every answer, whatever the driver gives
INTEGERS = frozenset(c.name for c in COLUMNS if c.kind in INTEGER_KINDS)


def _store():
    return current_app.extensions["southbound.store"]


def get_crossing_id(text):
    """A crossing id from a route, as the contract keeps ids (NFKC): 400 when it holds a
    control or format character (no stored id does)."""
    try:
        return identifier(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_value", f"value {show_json(text)} {exc}",
                       "crossing_id") from None


def _storable(crossing_id):
    """Whether the store could hold this id (at most TEXT_MAX characters, no NUL; no
    U+001F either: the store's aside keys, never an id)."""
    return len(crossing_id) <= TEXT_MAX and "\x00" not in crossing_id and "\x1f" not in crossing_id


def find_crossing(conn, crossing_id):
    """The stored (crossing, score, outcomes) triple, or None."""
    # an id the store could not hold is never stored: do not ask
    return _store().crossing(conn, crossing_id) if _storable(crossing_id) else None


def not_found(crossing_id):
    return ApiError(404, "not_found", f"no crossing {show_json(crossing_id)}", "crossing_id")


def get_crossing(conn, crossing_id):
    """The stored (crossing, score, outcomes) triple; 404 when there is no such crossing."""
    found = find_crossing(conn, crossing_id)
    if found is None:
        raise not_found(crossing_id)
    return found


@bp.post("")
@require("officer")
def add_inbound():
    """Store one inbound crossing (history for later scores), audited with its actor.

    An outbound crossing owns its id: an inbound one sent under the id of a stored
    outbound crossing is stored aside (:func:`~service.store.tables.aside_key`), and one
    stored first is moved aside when the outbound crossing comes, so that an inbound id
    never keeps an outbound crossing from being scored."""
    body = get_json_body()
    record = checked_crossing(body, "inbound")
    ignored = ignored_fields("InboundCrossing", body)
    store = _store()
    crossing_id = record["crossing_id"]
    with store.write() as conn:
        stored = store.inbound(conn, crossing_id)
        if stored is not None:
            conflict = repeat_conflict(record, dict(stored, crossing_id=crossing_id))
            if conflict:
                raise ApiError(409, "conflict", conflict, "crossing_id")
            return jsonify(with_ignored({"crossing_id": crossing_id, "stored": True},
                                        ignored)), 200
        aside = store.crossing(conn, crossing_id) is not None  # an outbound crossing's id
        store.insert_crossing(conn, record, key=aside_key(crossing_id) if aside else None)
        store.audit(conn, g.actor, "inbound", target=crossing_id,
                    port_code=record["port_code"], **({"set_aside": True} if aside else {}))
    return jsonify(with_ignored({"crossing_id": record["crossing_id"], "stored": True},
                                ignored)), 201


def parse_outcome(body):
    """Check an outcome: inspected (required), seizure (required when inspected), amounts."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "an outcome must be a JSON object")
    check_body("Outcome", body)
    try:
        out = {name: parse_value(name, body.get(name), show=show_json)
               for name in OUTCOME_FIELDS}
    except ContractError as exc:
        raise from_contract(exc) from None
    if math.isnan(out["inspected"]):
        raise ApiError(400, "invalid_value", "is required", "inspected")
    if out["inspected"] == 1.0 and math.isnan(out["seizure"]):
        raise ApiError(400, "invalid_value", "is required when inspected is true", "seizure")
    if out["inspected"] == 0.0:
        for name in OUTCOME_FIELDS[1:]:
            if not math.isnan(out[name]):
                raise ApiError(400, "invalid_value", "must be empty when inspected is false",
                               name)
    else:
        for name in OUTCOME_FIELDS[2:]:
            if math.isnan(out[name]):
                out[name] = 0.0
    check_integers(out)
    problem = outcome_problem(out)  # the contract's own rule, as for a log's rows
    if problem:
        name, message = problem
        raise ApiError(400, "invalid_value", f"value {show_json(body.get(name))}: {message}",
                       name)
    return out


@bp.post("/<path:crossing_id>/outcome")
@require("officer")
def record_outcome(crossing_id):
    """Record what secondary inspection found (a later record corrects an earlier one).
    Amounts above the contract's caps are refused (400); from the review thresholds up the
    outcome is taken, flagged in the answer's ``review`` and in an ``outcome_review``
    audit row beside the ``outcome`` one."""
    crossing_id = get_crossing_id(crossing_id)
    body = get_json_body()
    outcome = parse_outcome(body)
    review = outcome_review(outcome)
    ignored = ignored_fields("Outcome", body)
    store = _store()
    with store.write() as conn:
        crossing, score, _ = get_crossing(conn, crossing_id)
        if crossing["direction"] != "outbound":
            raise ApiError(409, "conflict", "outcomes are for outbound crossings",
                           "crossing_id")
        values = dict(outcome)
        if outcome["inspected"] == 1.0 and (score is None or not score["refer"]):
            # inspected on an officer's own call: how likely that was is not known
            values.update(referral="officer", selection_probability=math.nan)
        store.record_outcome(conn, crossing_id, values, g.actor)
        versions = dict(model_version=score["model_version"] if score else None,
                        policy_version=score["policy_version"] if score else None)
        amounts = {k: _plain(k, v) for k, v in outcome.items()}
        store.audit(conn, g.actor, "outcome", target=crossing_id, **versions, **amounts,
                    **({"review": review} if review else {}))
        if review:  # where analysts find them: southbound audit --action outcome_review
            store.audit(conn, g.actor, "outcome_review", target=crossing_id, **versions,
                        review=review, **{k: amounts[k] for k in review})
    shown = {k: _plain(k, v) for k, v in outcome.items()}
    shown["inspected"] = bool(shown["inspected"])
    shown["seizure"] = None if shown["seizure"] is None else bool(shown["seizure"])
    return jsonify(with_ignored({"crossing_id": crossing_id, "outcome": shown,
                                 "review": review}, ignored)), 201


LANE_LIMIT = 200


@bp.get("")
@require("officer")
def lane():
    """The latest scored outbound crossings at a port, by the time they crossed, newest
    first (the booth's lane view)."""
    port = request.args.get("port_code", "")
    try:
        port = parse_value("port_code", port, show=show_json)
    except ContractError as exc:
        raise from_contract(exc) from None
    if port is None:
        raise ApiError(400, "invalid_value", "is required", "port_code")
    if port not in ports_in_force():
        raise ApiError(400, "unknown_port", f"value {show_json(port)} is not a port of the "
                       "port table", "port_code")
    text = request.args.get("limit", "50")
    limit = int(text) if re.fullmatch(r"[0-9]{1,4}", text) else -1  # int() takes "1_0", "٣"
    if not 1 <= limit <= LANE_LIMIT:
        raise ApiError(400, "invalid_value", f"must be an integer from 1 to {LANE_LIMIT}",
                       "limit")
    # in crossing order, not scoring order: a back-filled crossing takes its own place
    # (the (port_code, crossed_at, direction) index serves it)
    query = (sa.select(crossings, scores.c.risk_score, scores.c.risk_band, scores.c.refer,
                       scores.c.reasons, scores.c.scored_at, scores.c.model_version)
             .join(scores, scores.c.crossing_id == crossings.c.crossing_id)
             .where(crossings.c.port_code == port, crossings.c.direction == "outbound")
             .order_by(crossings.c.crossed_at.desc(), crossings.c.crossing_id.desc())
             .limit(limit))
    store = _store()
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        with store.write(conn):  # the read is on record before anything is shown
            record_read(conn, "lane_read", target=port, count=len(rows), limit=limit)
    return jsonify({"port_code": port,
                    "crossings": [shown(_lane_view(r), g.role) for r in rows]})


def _lane_view(row):
    outcome = None
    if row["inspected"] is not None:
        outcome = {"inspected": bool(row["inspected"]),
                   "seizure": None if row["seizure"] is None else bool(row["seizure"])}
    return {"crossing_id": row["crossing_id"],
            "crossed_at": format_timestamp(row["crossed_at"], row["utc_offset_min"]),
            "port_code": row["port_code"], "plate_id": row["plate_id"],
            "plate_jurisdiction": row["plate_jurisdiction"],
            "vehicle_class": row["vehicle_class"], "body_type": row["body_type"],
            "vehicle_make": row["vehicle_make"],
            "risk_score": row["risk_score"], "risk_band": row["risk_band"],
            "refer": bool(row["refer"]), "reasons": json.loads(row["reasons"]),
            "scored_at": format_timestamp(row["scored_at"]),
            "model_version": row["model_version"], "outcome": outcome}


@bp.get("/<path:crossing_id>")
@require("officer")
def show(crossing_id):
    """The crossing, its score, reasons and decision, and its latest outcome. Every
    look-up is on record: of an id found, not found, or refused by the identifier rule."""
    store = _store()
    try:
        crossing_id = get_crossing_id(crossing_id)
    except ApiError:
        with store.write() as conn:
            record_read(conn, "crossing_read", **_read_target(crossing_id, None))
        raise
    analyst = ROLES.index(g.role) >= ROLES.index("analyst")
    with store.engine.connect() as conn:
        found = find_crossing(conn, crossing_id)
        shadow = store.shadow_score(conn, crossing_id) if analyst and found else None
        with store.write(conn):  # a look-up of an unknown id is on record too
            record_read(conn, "crossing_read", **_read_target(crossing_id, found))
    if found is None:
        raise not_found(crossing_id)
    crossing, score, outcomes = found
    answer = {"crossing": _crossing_view(crossing, analyst), "score": None,
              "outcome": _outcome_view(outcomes[-1]) if outcomes else None}
    if score is not None:
        answer["score"] = shown(public_answer(score), g.role) | {
            "scored_at": format_timestamp(score["scored_at"]),
            "policy_version": score["policy_version"]}
        if analyst:
            answer["score"].update(referral_source=score["referral_source"],
                                   selection_probability=score["selection_probability"],
                                   features=json.loads(score["features"]))
    if analyst:
        answer["outcomes"] = [_outcome_view(o) for o in outcomes]
        answer["shadow"] = _shadow_view(shadow) if shadow else None
    return jsonify(answer)


def _read_target(crossing_id, found):
    """The audit row's target and detail of a look-up: the id in the target column when
    it can hold it, else (too long, a NUL) in the detail, cut to what a look-up may send."""
    if _storable(crossing_id):
        return {"target": crossing_id, "found": found is not None}
    return {"target": None, "found": False, "crossing_id": crossing_id[:4 * TEXT_MAX],
            "id_chars": len(crossing_id)}


def _shadow_view(row):
    threshold = row["threshold"]
    return {"model_version": row["model_version"], "risk_score": row["risk_score"],
            "threshold": threshold if math.isfinite(threshold) else None,
            "would_refer": bool(row["would_refer"]),
            "scored_at": format_timestamp(row["scored_at"])}


def _crossing_view(row, analyst):
    hidden = set() if analyst else {"referral", "selection_probability"}
    out = {k: _plain(k, v) for k, v in row.items()
           if k in crossings.c and k not in hidden | {"received_at", "utc_offset_min"}}
    out["crossed_at"] = format_timestamp(row["crossed_at"], row["utc_offset_min"])
    out["crossing_id"] = stored_id(row["crossing_id"])
    for name in ("trailer_empty", "inspected", "seizure"):
        if out.get(name) is not None:
            out[name] = bool(out[name])
    return out


def _outcome_view(row):
    out = {k: _plain(k, row[k]) for k in OUTCOME_FIELDS}
    out["inspected"] = bool(out["inspected"])
    out["seizure"] = None if out["seizure"] is None else bool(out["seizure"])
    out["recorded_at"] = format_timestamp(row["recorded_at"])
    out["recorded_by"] = row["actor"]
    return out


def _plain(name, value):
    """A stored or parsed value as an answer shows it: None for NaN, ints for integers."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if name in INTEGERS and value is not None:
        return int(value)
    return value

