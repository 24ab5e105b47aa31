"""Per-token rate limits: a fixed one-minute window of requests per token.

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

    def hit(self, key, window):
        with self.lock:
            if len(self.counts) > 10_000:  # old windows would otherwise pile up
                self.counts = {k: v for k, v in self.counts.items() if k[1] == window}
            count = self.counts.get((key, window), 0) + 1
            self.counts[(key, window)] = count
        return count


class RedisCounter:
    """Counts in Redis, shared by every worker (INCR with an expiry)."""

    def __init__(self, url):
        import redis
        self.client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self.failing_since = None

    def hit(self, key, window):
        name = f"southbound:rate:{key}:{window}"
        try:
            pipe = self.client.pipeline()
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW_SECONDS)
            count = pipe.execute()[0]
        except Exception as exc:  # redis raises several connection error types
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                log.warning("rate limit counter unavailable, letting requests through: %s",
                            type(exc).__name__)
            return 0
        self.failing_since = None
        return count


class RateLimiter:
    """At most ``per_minute`` requests per token and minute; 0 switches it off."""

    def __init__(self, per_minute, redis_url="", clock=time.time):
        self.per_minute = per_minute
        self.counter = RedisCounter(redis_url) if redis_url else LocalCounter()
        self.clock = clock  # the tests pin it: a window may otherwise turn between two requests

    def check(self, token_hash):
        """Raise a 429 ApiError when this token is over its limit."""
        if self.per_minute <= 0:
            return
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        if self.counter.hit(token_hash[:32], window) > self.per_minute:
            retry = int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1
            error = ApiError(429, "rate_limited", f"more than {self.per_minute} requests a "
                             f"minute with this token; retry in {retry} s")
            error.retry_after = retry
            raise error


def init_app(app):
    app.extensions["southbound.ratelimit"] = RateLimiter(
        int(app.config["RATE_LIMIT_PER_MINUTE"]), app.config["REDIS_URL"])
