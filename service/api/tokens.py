"""API tokens for admins: ``DELETE /v1/tokens/<id>`` revokes one, audited."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from service.auth import require, revoke_token
from service.errors import ApiError

bp = Blueprint("tokens", __name__, url_prefix="/v1/tokens")
#: the largest id a token can have (PostgreSQL's integer column)
MAX_ID = 2**31 - 1


@bp.delete("/<int:token_id>")
@require("admin")
def revoke(token_id):
    """Revoke a token (404 unknown, 409 already revoked): this worker refuses it at once,
    the others within ``TOKEN_CACHE_SECONDS``. Audited as ``token_revoke``."""
    if token_id > MAX_ID:  # no such row, and more than the database's integers hold
        raise ApiError(404, "not_found", f"no token {token_id}", "token_id")
    try:
        revoke_token(current_app.extensions["southbound.store"], token_id, actor=g.actor)
    except KeyError:
        raise ApiError(404, "not_found", f"no token {token_id}", "token_id") from None
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc), "token_id") from None
    current_app.extensions["southbound.tokens"].forget(token_id)
    return "", 204
