"""Rate limits: per token (a batch counts each crossing) and failed authentications per
client address; 429 with the error shape and Retry-After, per worker or shared through
Redis. The token cache stays bounded whatever is sent."""
import uuid

import pytest
import sqlalchemy as sa

from service.auth import CACHE_ENTRIES, TokenCache
from service.ratelimit import LocalCounter, RateLimiter, RedisCounter
from service.errors import ApiError
from tests.helpers.service import assert_error, outbound

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


def test_a_batch_counts_each_crossing_against_the_limit(app, client, auth):
    clock = Clock()
    app.extensions["southbound.ratelimit"] = RateLimiter(10, clock=clock)
    h = auth["officer"]
    batch = {"crossings": [outbound(i, plate_id=f"P{i}") for i in range(8)]}
    assert client.post("/v1/score/batch", json=batch, headers=h).status_code == 200   # 8
    # 4 more would make 12: refused whole, naming the rule, counted as one request
    more = {"crossings": [outbound(10 + i, plate_id=f"Q{i}") for i in range(4)]}
    response = client.post("/v1/score/batch", json=more, headers=h)
    assert_error(response, 429, "rate_limited")
    assert "a batch counts each of its crossings" in response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) == 31
    statuses = [client.get("/v1/model", headers=h).status_code for _ in range(2)]
    assert statuses == [200, 429]               # 10, then 11: the refused batch took one
    clock.now += 30                             # a new minute: the batch passes
    assert client.post("/v1/score/batch", json=more, headers=h).status_code == 200


def test_a_batch_of_500_counts_500(app, client, auth):
    app.extensions["southbound.ratelimit"] = RateLimiter(600, clock=Clock())
    h = auth["officer"]
    batch = {"crossings": [outbound(i, plate_id=f"P{i % 40}") for i in range(500)]}
    assert client.post("/v1/score/batch", json=batch, headers=h).status_code == 200
    statuses = [client.get("/v1/model", headers=h).status_code for _ in range(101)]
    assert statuses == [200] * 100 + [429]


def _token_queries(app):
    """A list that grows by one for each statement the store runs on the tokens table."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM tokens" in statement:
            seen.append(statement)
    sa.event.listen(app.extensions["southbound.store"].engine, "before_cursor_execute", count)
    return seen


@pytest.mark.parametrize("redis_url", ["", REDIS], ids=["local", "redis"])
def test_failed_authentications_are_limited_per_address(app, client, auth, redis_url):
    if redis_url:
        pytest.importorskip("redis")
    clock = Clock(now=1_800_000_030.0 + 60 * (uuid.uuid4().int % 10**6))   # fresh Redis keys
    app.extensions["southbound.ratelimit"] = RateLimiter(0, redis_url, clock,
                                                         failures_per_minute=5)
    queries = _token_queries(app)
    wrong = [{"Authorization": f"Bearer sb_wrong{i}"} for i in range(20)]
    statuses = [client.get("/v1/model", headers=h).status_code for h in wrong[:5]]
    assert statuses == [401] * 5 and len(queries) == 5
    for h in wrong[5:]:                         # limited: refused without a lookup
        assert_error(client.get("/v1/model", headers=h), 429, "rate_limited")
    assert len(queries) == 5
    response = client.get("/v1/model", headers=wrong[0])
    assert "failed authentications" in response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) == 31
    # another address is not limited by this one's failures
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/v1/model", headers=auth["officer"], environ_base=other).status_code == 200
    assert client.get("/v1/model", headers=wrong[0], environ_base=other).status_code == 401
    # nor is a request without a token counted as a failure
    assert client.get("/v1/model", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 401
    clock.now += 30                             # the next minute: looked up again
    assert client.get("/v1/model", headers=auth["officer"]).status_code == 200


def test_a_cached_token_still_passes_from_a_limited_address(app, client, auth):
    app.extensions["southbound.tokens"] = TokenCache(60)
    app.extensions["southbound.ratelimit"] = RateLimiter(0, clock=Clock(),
                                                         failures_per_minute=2)
    assert client.get("/v1/model", headers=auth["officer"]).status_code == 200   # cached
    for i in range(3):
        client.get("/v1/model", headers={"Authorization": f"Bearer sb_wrong{i}"})
    assert client.get("/v1/model", headers=auth["officer"]).status_code == 200
    assert client.get("/v1/model", headers=auth["analyst"]).status_code == 429  # not cached


def test_wrong_tokens_never_grow_the_token_cache(app, client, auth):
    cache = TokenCache(60)
    app.extensions["southbound.tokens"] = cache
    app.extensions["southbound.ratelimit"] = RateLimiter(0, clock=Clock(),
                                                         failures_per_minute=20)
    queries = _token_queries(app)
    statuses = {client.get("/v1/model", headers={"Authorization": f"Bearer sb_x{i}"}
                           ).status_code for i in range(20_000)}
    assert statuses == {401, 429}
    assert len(cache.entries) == 0 and len(queries) == 20


def test_the_token_cache_keeps_the_most_recently_used(app, auth):
    from service.auth import create_token
    store = app.extensions["southbound.store"]
    cache = TokenCache(60, entries=3)
    made = [create_token(store, "officer", f"t{i}") for i in range(5)]
    for token in made:
        assert cache.lookup(store, token) == (f"t{made.index(token)}", "officer")
    assert len(cache.entries) == 3
    cache.lookup(store, made[2])                # used again: kept over t3
    cache.lookup(store, made[0])                # back in, t3 out
    names = [entry[0] for entry, _ in cache.entries.values()]
    assert names == ["t4", "t2", "t0"]
    assert CACHE_ENTRIES >= 100
