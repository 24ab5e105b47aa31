"""Per-token rate limits: 429 with the error shape, per worker or shared through Redis."""
import uuid

import pytest

from service.ratelimit import LocalCounter, RateLimiter, RedisCounter
from service.errors import ApiError

REDIS = "redis://127.0.0.1:6379/0"


class Clock:
    """A clock that moves only when told: the one-minute window cannot turn mid-test."""

    def __init__(self, now=1_800_000_030.0):     # half way through a window
        self.now = now

    def __call__(self):
        return self.now


def test_local_limit_answers_429_over_the_limit(app, client, auth):
    clock = Clock()
    app.extensions["southbound.ratelimit"] = RateLimiter(3, clock=clock)
    h = auth["officer"]
    statuses = [client.get("/v1/model", headers=h).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    response = client.get("/v1/model", headers=h)
    assert response.json["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) == 31    # 30 s left in the window, rounded up
    # another token has its own allowance
    assert client.get("/v1/model", headers=auth["analyst"]).status_code == 200
    # the next minute starts a new allowance
    clock.now += 30
    assert client.get("/v1/model", headers=h).status_code == 200


def test_redis_counts_are_shared_between_limiters():
    pytest.importorskip("redis")
    key = uuid.uuid4().hex
    clock = Clock()
    one, two = RateLimiter(4, REDIS, clock), RateLimiter(4, REDIS, clock)   # two workers
    for limiter in (one, two, one, two):
        limiter.check(key)
    with pytest.raises(ApiError, match="more than 4 requests a minute"):
        one.check(key)


def test_an_unreachable_redis_lets_requests_through():
    limiter = RateLimiter(1, "redis://127.0.0.1:1/0")
    for _ in range(3):
        limiter.check("k")          # no 429, no exception
    assert isinstance(limiter.counter, RedisCounter)


def test_zero_switches_the_limit_off():
    limiter = RateLimiter(0)
    for _ in range(100):
        limiter.check("k")
    counter = LocalCounter()
    assert [counter.hit("a", 1) for _ in range(3)] == [1, 2, 3]
    assert counter.hit("a", 2) == 1
