"""Lookouts: plates that analysts list, with a reason and an expiry, always referred.

Bounded: a reason of at most ``REASON_MAX`` characters (a note for officers, not a
file), an expiry at most ``LIFETIME_DAYS`` ahead (a year; then an analyst renews it on
purpose), both declared with the document's schema; listed a page at a time (at most
``PAGE_MAX``).
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request

from scoring.contract import (ContractError, check_text, format_timestamp, identifier,
                              parse_timestamp, show_json)
from scoring.features.stats import DAY_US
from service.access import record_read
from service.api.inputs import get_json_body, ignored_fields, with_ignored
from service.auth import require
from service.errors import ApiError
from service.openapi import check_body
from service.openapi.schemas import LIFETIME_DAYS, PAGE_DEFAULT, PAGE_MAX, REASON_MAX
from service.store import lookouts, now_us

bp = Blueprint("lookouts", __name__, url_prefix="/v1/lookouts")
#: the largest id a lookout can have (PostgreSQL's integer column)
MAX_ID = 2**31 - 1


def _store():
    return current_app.extensions["southbound.store"]


def _view(row):
    return {"id": row["id"], "plate_id": row["plate_id"], "reason": row["reason"],
            "expires_at": format_timestamp(row["expires_at"]),
            "created_by": row["created_by"], "created_at": format_timestamp(row["created_at"])}


@bp.get("")
@require("analyst")
def listing():
    """Active lookouts, newest first, a page at a time: ``limit`` (1 to PAGE_MAX, default
    PAGE_DEFAULT) after the lookout ``after`` (the previous page's ``next``). The plates
    listed: audited as a read (the count), on record before the page is shown."""
    limit = _query_integer("limit", PAGE_DEFAULT, PAGE_MAX)
    after = _query_integer("after", None, MAX_ID)
    query = (sa.select(lookouts).where(lookouts.c.deleted_at.is_(None),
                                       lookouts.c.expires_at > now_us())
             .order_by(lookouts.c.id.desc()).limit(limit + 1))
    if after is not None:
        query = query.where(lookouts.c.id < after)
    store = _store()
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        page = rows[:limit]
        with store.write(conn):
            record_read(conn, "lookouts_read", count=len(page), limit=limit, after=after)
    return jsonify({"lookouts": [_view(r) for r in page],
                    "next": page[-1]["id"] if len(rows) > limit else None})


def _query_integer(name, default, most):
    """An integer query parameter from 1 to ``most``; ``default`` when absent; 400 otherwise."""
    text = request.args.get(name)
    if text is None:
        return default
    value = int(text) if re.fullmatch(r"[0-9]{1,10}", text) else 0  # int() takes "1_0", "٣"
    if not 1 <= value <= most:
        raise ApiError(400, "invalid_value", f"must be an integer from 1 to {most}", name)
    return value


def parse_lookout(body):
    """plate_id (an identifier of the contract, kept in NFKC) and reason, both required;
    expires_at (ISO-8601 with offset, in the future, at most LIFETIME_DAYS ahead)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "a lookout must be a JSON object")
    check_body("Lookout", body)
    out = {}
    for name in ("plate_id", "reason"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, "invalid_value", "is required (a non-empty string)", name)
        try:
            check_text(value)
        except ValueError:
            raise ApiError(400, "invalid_value", "must be text without NUL characters or "
                           "lone surrogates", name) from None
        out[name] = value.strip()
    try:  # the contract's identifier rule, as the crossings' plate ids it must match
        out["plate_id"] = identifier(out["plate_id"])
    except ValueError as exc:
        raise ApiError(400, "invalid_value", f"value {show_json(body['plate_id'])} {exc}",
                       "plate_id") from None
    if len(out["reason"]) > REASON_MAX:
        raise ApiError(400, "invalid_value", f"is {len(out['reason']):,} characters long: at "
                       f"most {REASON_MAX} are kept", "reason")
    try:
        out["expires_at"], _ = parse_timestamp(str(body.get("expires_at", "")))
    except (ValueError, ContractError):
        raise ApiError(400, "invalid_value", "is required: an ISO-8601 timestamp with a UTC "
                       "offset", "expires_at") from None
    now = now_us()
    if out["expires_at"] <= now:
        raise ApiError(400, "invalid_value", "is in the past", "expires_at")
    if out["expires_at"] > now + LIFETIME_DAYS * DAY_US:
        raise ApiError(400, "invalid_value", f"value {show_json(body.get('expires_at'))} is "
                       f"more than {LIFETIME_DAYS} days ahead: a lookout is renewed, not "
                       "set for ever", "expires_at")
    return out


@bp.post("")
@require("analyst")
def create():
    """Add a plate to the lookout list."""
    body = get_json_body()
    values = parse_lookout(body)
    store = _store()
    with store.write() as conn:
        result = conn.execute(lookouts.insert().values(
            **values, created_by=g.actor, created_at=now_us()))
        lookout_id = result.inserted_primary_key[0]
        store.audit(conn, g.actor, "lookout_add", target=str(lookout_id),
                    expires_at=values["expires_at"])
        row = conn.execute(sa.select(lookouts).where(lookouts.c.id == lookout_id)
                           ).mappings().one()
    return jsonify(with_ignored(_view(row), ignored_fields("Lookout", body))), 201


@bp.delete("/<int:lookout_id>")
@require("analyst")
def delete(lookout_id):
    """Take a lookout off the list (kept, marked deleted, for the audit trail)."""
    if lookout_id > MAX_ID:  # no such row, and more than the database's integers hold
        raise ApiError(404, "not_found", f"no active lookout {lookout_id}", "lookout_id")
    store = _store()
    with store.write() as conn:
        done = conn.execute(lookouts.update().where(
            lookouts.c.id == lookout_id, lookouts.c.deleted_at.is_(None))
            .values(deleted_at=now_us())).rowcount
        if not done:
            raise ApiError(404, "not_found", f"no active lookout {lookout_id}", "lookout_id")
        store.audit(conn, g.actor, "lookout_delete", target=str(lookout_id))
    return "", 204
