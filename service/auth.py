"""Bearer tokens with roles and an expiry. Only a token's SHA-256 is stored; lookups
compare in constant time; failed authentications are limited per client address."""
from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import secrets
import threading
import time

import sqlalchemy as sa
from flask import current_app, g, request

from scoring.features.stats import DAY_US
from service.errors import ApiError
from service.store import now_us, tokens

#: each role may do what the roles before it may
ROLES = ("officer", "analyst", "admin")
#: the most days ahead a token may expire (about ten years)
MAX_EXPIRES_DAYS = 3653
#: tokens a worker keeps in its cache, the least recently used dropped first
CACHE_ENTRIES = 1024


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store, role, name, actor="cli", expires_days=None, **detail):
    """Store a new token's hash and return the token (shown once, never stored); it
    expires ``expires_days`` days from now (1 to :data:`MAX_EXPIRES_DAYS`; None: never,
    for tests and the library; the command's default is 90); ``detail`` goes into the
    audit row (the command line's ``on_behalf_of``)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise ValueError("a token needs a name")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise ValueError(f"a token expires 1 to {MAX_EXPIRES_DAYS} days ahead, not "
                         f"{expires_days}")
    token = "sb_" + secrets.token_urlsafe(32)
    created = now_us()
    expires = None if expires_days is None else created + int(expires_days) * DAY_US
    with store.write() as conn:
        conn.execute(tokens.insert().values(name=name.strip(), role=role,
                                            token_hash=hash_token(token), created_at=created,
                                            expires_at=expires))
        store.audit(conn, actor, "token_create", target=name.strip(), role=role,
                    expires_at=expires, **detail)
    return token


def list_tokens(store):
    """Every token's id, name, role and dates (UTC µs; ``expires_at`` None for never),
    oldest first; never a hash."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.role,
                                      tokens.c.created_at, tokens.c.expires_at,
                                      tokens.c.revoked_at)
                            .order_by(tokens.c.id)).all()
    return [dict(row._mapping) for row in rows]


def revoke_token(store, token_id=None, *, token=None, actor="cli", **detail):
    """Revoke a token by id (or by the token itself): the command's ``tokens revoke`` and
    the API's ``DELETE /v1/tokens/<id>``; workers refuse it once their cache of it expires
    (``TOKEN_CACHE_SECONDS``). Returns the token's name;
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
    """A worker's short-lived memory of valid tokens: hash -> (name, role, id, expiry),
    when looked up. Least recently used first out beyond ``entries``; a token the store
    refused is never kept, so wrong tokens cannot grow it (the per-address limit on
    failures keeps them from the store)."""

    def __init__(self, seconds, entries=CACHE_ENTRIES):
        self.seconds = seconds
        self.size = entries
        self.entries = collections.OrderedDict()
        self.lock = threading.Lock()

    def cached(self, digest):
        """(name, role) of a fresh, unexpired entry, else None (no store query)."""
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(digest)
            if hit is None:
                return None
            (name, role, _, expires), at = hit
            if now - at >= self.seconds or (expires is not None and expires <= now_us()):
                del self.entries[digest]
                return None
            self.entries.move_to_end(digest)
        return name, role

    def lookup(self, store, token):
        """(name, role) of a valid token (not revoked, not expired), else None."""
        digest = hash_token(token)
        found = self.cached(digest)
        if found is not None:
            return found
        now = now_us()
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.role,
                                         tokens.c.token_hash, tokens.c.expires_at)
                               .where(tokens.c.token_hash == digest,
                                      tokens.c.revoked_at.is_(None),
                                      sa.or_(tokens.c.expires_at.is_(None),
                                             tokens.c.expires_at > now))).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if self.seconds > 0:
            with self.lock:
                self.entries[digest] = ((row.name, row.role, row.id, row.expires_at),
                                        time.monotonic())
                self.entries.move_to_end(digest)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        return row.name, row.role

    def forget(self, token_id):
        """Drop a token from this worker's cache (revoked here: refused at once)."""
        with self.lock:
            for digest in [d for d, (entry, _) in self.entries.items() if entry[2] == token_id]:
                del self.entries[digest]


def init_app(app):
    app.extensions["southbound.tokens"] = TokenCache(app.config["TOKEN_CACHE_SECONDS"])


def authenticate():
    """Set ``g.actor`` and ``g.role`` from the bearer token; 401 when absent or unknown."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "a bearer token is required", "Authorization")
    cache = current_app.extensions["southbound.tokens"]
    limiter = current_app.extensions["southbound.ratelimit"]
    digest = hash_token(token.strip())
    found = cache.cached(digest)
    if found is None:
        # an address that keeps failing is refused before its tokens are looked up
        limiter.check_address(request.remote_addr)
        found = cache.lookup(current_app.extensions["southbound.store"], token.strip())
    if found is None:
        limiter.failed(request.remote_addr)
        raise ApiError(401, "unauthorized", "the token is not valid", "Authorization")
    g.actor, g.role = found
    g.token_hash = digest
    limiter.check(g.token_hash)


def charge(cost):
    """Count ``cost`` more requests of the caller's token (a batch's crossings beyond the
    request itself); 429 when that takes it over its limit."""
    if cost > 0:
        current_app.extensions["southbound.ratelimit"].check(g.token_hash, cost)


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
