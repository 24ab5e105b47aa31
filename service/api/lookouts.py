"""Lookouts: plates that analysts list, with a reason and an expiry, always referred."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify

from scoring.contract import ContractError, check_text, format_timestamp, parse_timestamp
from service.access import record_read
from service.api.inputs import get_json_body, ignored_fields, with_ignored
from service.auth import require
from service.errors import ApiError
from service.openapi import check_body
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
    """Active lookouts, newest first (the plates listed: audited as a read)."""
    store = _store()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(lookouts).where(
            lookouts.c.deleted_at.is_(None), lookouts.c.expires_at > now_us())
            .order_by(lookouts.c.id.desc())).mappings().all()
        with store.write(conn):
            record_read(conn, "lookouts_read", count=len(rows))
    return jsonify({"lookouts": [_view(r) for r in rows]})


def parse_lookout(body):
    """plate_id, reason (both required) and expires_at (ISO-8601 with offset, in the future)."""
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
    try:
        out["expires_at"], _ = parse_timestamp(str(body.get("expires_at", "")))
    except (ValueError, ContractError):
        raise ApiError(400, "invalid_value", "is required: an ISO-8601 timestamp with a UTC "
                       "offset", "expires_at") from None
    if out["expires_at"] <= now_us():
        raise ApiError(400, "invalid_value", "is in the past", "expires_at")
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
