"""Bearer tokens with roles. Only a token's SHA-256 is stored; lookups compare in constant time."""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time

import sqlalchemy as sa
from flask import current_app, g, request

from service.errors import ApiError
from service.store import now_us, tokens

#: each role may do what the roles before it may
ROLES = ("officer", "analyst", "admin")


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store, role, name, actor="cli", **detail):
    """Store a new token's hash and return the token (shown once, never stored); ``detail``
    goes into the audit row (the command line's ``on_behalf_of``)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise ValueError("a token needs a name")
    token = "sb_" + secrets.token_urlsafe(32)
    with store.write() as conn:
        conn.execute(tokens.insert().values(name=name.strip(), role=role,
                                            token_hash=hash_token(token), created_at=now_us()))
        store.audit(conn, actor, "token_create", target=name.strip(), role=role, **detail)
    return token


def list_tokens(store):
    """Every token's id, name, role and dates (UTC µs), oldest first; never a hash."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.role,
                                      tokens.c.created_at, tokens.c.revoked_at)
                            .order_by(tokens.c.id)).all()
    return [dict(row._mapping) for row in rows]


def revoke_token(store, token_id=None, *, token=None, actor="cli", **detail):
    """Revoke a token by id (or by the token itself); workers refuse it once their
    cache of it expires (``TOKEN_CACHE_SECONDS``). Returns the token's name;
    KeyError when there is no such token, ValueError when it is already revoked."""
    where = (tokens.c.id == token_id) if token is None else (tokens.c.token_hash == hash_token(token))
    with store.write() as conn:
        row = conn.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.revoked_at)
                           .where(where)).first()
        if row is None:
            raise KeyError(f"no token with id {token_id}")
        if row.revoked_at is not None:
            raise ValueError(f"token {row.id} ({row.name!r}) is already revoked")
        conn.execute(tokens.update().where(tokens.c.id == row.id).values(revoked_at=now_us()))
        store.audit(conn, actor, "token_revoke", target=row.name, token_id=row.id, **detail)
    return row.name


class TokenCache:
    """A worker's short-lived memory of token lookups (hash -> (name, role), time)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.entries = {}
        self.lock = threading.Lock()

    def lookup(self, store, token):
        digest = hash_token(token)
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(digest)
        if hit and now - hit[1] < self.seconds:
            return hit[0]
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(tokens.c.name, tokens.c.role, tokens.c.token_hash)
                               .where(tokens.c.token_hash == digest,
                                      tokens.c.revoked_at.is_(None))).first()
        found = ((row.name, row.role) if row is not None
                 and hmac.compare_digest(row.token_hash, digest) else None)
        with self.lock:
            self.entries[digest] = (found, now)
        return found


def init_app(app):
    app.extensions["southbound.tokens"] = TokenCache(app.config["TOKEN_CACHE_SECONDS"])


def authenticate():
    """Set ``g.actor`` and ``g.role`` from the bearer token; 401 when absent or unknown."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "a bearer token is required", "Authorization")
    found = current_app.extensions["southbound.tokens"].lookup(
        current_app.extensions["southbound.store"], token.strip())
    if found is None:
        raise ApiError(401, "unauthorized", "the token is not valid", "Authorization")
    g.actor, g.role = found
    current_app.extensions["southbound.ratelimit"].check(hash_token(token.strip()))


def require(role):
    """View decorator: the caller's role must be ``role`` or above (401, then 403)."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            authenticate()
            if ROLES.index(g.role) < ROLES.index(role):
                raise ApiError(403, "forbidden", f"this needs the {role} role; "
                                                 f"the token has {g.role}")
            return view(*args, **kwargs)
        return wrapper
    return decorate
