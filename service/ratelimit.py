"""Rate limits in fixed one-minute windows: requests per token (a batch counts each of
its crossings), and failed authentications per client address.

With ``SOUTHBOUND_REDIS_URL`` set, every worker counts in the same Redis keys, so
the limit holds for the whole server; without it each worker counts on its own.
If Redis stops answering, requests are let through (and logged): a booth must
not stop scoring because a counter is down.
"""
from __future__ import annotations

import logging
import threading
import time

from service.errors import ApiError

log = logging.getLogger("southbound.service")
WINDOW_SECONDS = 60


class LocalCounter:
    """Counts in this process only."""

    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def hit(self, key, window, amount=1):
        with self.lock:
            if len(self.counts) > 10_000:  # old windows would otherwise pile up
                self.counts = {k: v for k, v in self.counts.items() if k[1] == window}
            count = self.counts.get((key, window), 0) + amount
            self.counts[(key, window)] = count
        return count

    def count(self, key, window):
        with self.lock:
            return self.counts.get((key, window), 0)


class RedisCounter:
    """Counts in Redis, shared by every worker (INCR with an expiry)."""

    def __init__(self, url):
        import redis
        self.client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self.failing_since = None

    def hit(self, key, window, amount=1):
        name = f"southbound:rate:{key}:{window}"
        try:
            pipe = self.client.pipeline()
            pipe.incrby(name, amount)
            pipe.expire(name, 2 * WINDOW_SECONDS)
            count = pipe.execute()[0]
        except Exception as exc:  # redis raises several connection error types
            return self._failed(exc)
        self.failing_since = None
        return count

    def count(self, key, window):
        try:
            count = int(self.client.get(f"southbound:rate:{key}:{window}") or 0)
        except Exception as exc:  # noqa: BLE001 - as in hit
            return self._failed(exc)
        self.failing_since = None
        return count

    def _failed(self, exc):
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("rate limit counter unavailable, letting requests through: %s",
                        type(exc).__name__)
        return 0


class RateLimiter:
    """At most ``per_minute`` requests per token and minute, and ``failures_per_minute``
    failed authentications per client address; 0 switches either off."""

    def __init__(self, per_minute, redis_url="", clock=time.time, failures_per_minute=0):
        self.per_minute = per_minute
        self.failures_per_minute = failures_per_minute
        self.counter = RedisCounter(redis_url) if redis_url else LocalCounter()
        self.clock = clock  # the tests pin it: a window may otherwise turn between two requests

    def _window(self):
        now = self.clock()
        return int(now // WINDOW_SECONDS), int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1

    def check(self, token_hash, cost=1):
        """Count ``cost`` requests of this token (a batch: one per crossing); raise a 429
        ApiError when that takes it over its limit. A refused batch's crossings are not
        counted (its request was), so that the token's single requests still pass."""
        if self.per_minute <= 0:
            return
        window, retry = self._window()
        key = token_hash[:32]
        if self.counter.hit(key, window, cost) > self.per_minute:
            if cost > 1:
                self.counter.hit(key, window, -cost)
                message = (f"a batch counts each of its crossings against the limit of "
                           f"{self.per_minute} requests a minute with this token: these "
                           f"{cost} would go over it; retry in {retry} s")
            else:
                message = (f"more than {self.per_minute} requests a minute with this token; "
                           f"retry in {retry} s")
            raise _too_many(message, retry)

    def check_address(self, address):
        """Raise a 429 ApiError when ``address`` has failed to authenticate
        ``failures_per_minute`` times in this minute (nothing is counted)."""
        if self.failures_per_minute <= 0:
            return
        window, retry = self._window()
        if self.counter.count(_address_key(address), window) >= self.failures_per_minute:
            raise _too_many(f"more than {self.failures_per_minute} failed authentications a "
                            f"minute from this address; retry in {retry} s", retry)

    def failed(self, address):
        """Count one failed authentication from ``address``."""
        if self.failures_per_minute > 0:
            self.counter.hit(_address_key(address), self._window()[0])


def _address_key(address):
    return "auth-failures:" + (address or "unknown")


def _too_many(message, retry):
    error = ApiError(429, "rate_limited", message)
    error.retry_after = retry
    return error


def init_app(app):
    app.extensions["southbound.ratelimit"] = RateLimiter(
        int(app.config["RATE_LIMIT_PER_MINUTE"]), app.config["REDIS_URL"],
        failures_per_minute=int(app.config["AUTH_FAILURES_PER_MINUTE"]))
