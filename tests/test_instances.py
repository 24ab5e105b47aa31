"""Several service instances on one PostgreSQL and one registry folder act as one service.

A port runs two or more `southbound serve` instances behind a load balancer: every
feature vector must be what one instance would compute, every score and audit row
stored once, and lookouts, activations, the shadow setting and each port's referral
threshold seen by all of them within the check interval.
"""
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from models.registry import Registry
from scoring.contract import parse_frame
from scoring.features import feature_frame
from scoring.policy import RecentScores
from service.replay import crossing_body
from service.store import audit, crossings, outcomes, scores, shadow_scores
from tests.helpers.browser import call, serve
from tests.helpers.pg import pg_database
from tests.helpers.replay import assert_features_equal, logged_outcome, replay
from training.synth import WorldConfig, generate_world


@pytest.fixture(scope="module")
def small_log():
    log, _ = generate_world(WorldConfig(days=5, seed=21, scale=0.002))
    return log


@pytest.fixture
def pg_url():
    url, drop = pg_database()
    yield url
    drop()


class Alternating:
    """A replay client that sends each request to the next of several clients in turn,
    one request at a time; ``after(i, path, response)`` runs after each."""

    def __init__(self, clients, after=None):
        self.clients = clients
        self.after = after
        self.sent = 0

    def post(self, path, json, headers):
        i = self.sent % len(self.clients)
        self.sent += 1
        response = self.clients[i].post(path, json=json, headers=headers)
        if self.after is not None:
            self.after(i, path, response)
        return response


class HttpClient:
    """The bits of Flask's test client that replay uses, over HTTP to a live server."""

    class Response:
        def __init__(self, status, body):
            self.status_code, self.json = status, body

    def __init__(self, url):
        self.url = url

    def post(self, path, json, headers):
        token = headers["Authorization"].split()[1]
        return self.Response(*call(self.url + path, json, token))


def test_workers_on_one_store_refer_at_one_threshold(pg_url, registry_path, tmp_path,
                                                     small_log):
    """Two apps (two workers, or two instances) on one PostgreSQL, each port's crossings
    sent to them alternately: before every decision a worker reads the port's window
    from the store (refresh interval 0), so the threshold it refers at is the one of the
    store's latest scores, whoever scored them. (Each reading its window once, as
    before, each followed only its own half of the traffic.)"""
    from service import create_app
    from service.auth import create_token
    apps = [create_app({"DATABASE_URL": pg_url, "REGISTRY": str(registry_path),
                        "REPORT_DIR": str(tmp_path / "reports"), "TOKEN_CACHE_SECONDS": 0,
                        "MODEL_CHECK_SECONDS": 0, "THRESHOLD_WINDOW": 300,
                        "THRESHOLD_REFRESH_SECONDS": 0,
                        "RANDOM_SEED": n, "LOG_LEVEL": "WARNING",
                        "RATE_LIMIT_PER_MINUTE": 0}) for n in (1, 2)]
    store = apps[0].extensions["southbound.store"]
    headers = {"Authorization": f"Bearer {create_token(store, 'officer', 'booth')}"}
    busiest = small_log[small_log["direction"] == "outbound"]["port_code"].value_counts()
    port = busiest.index[0]
    log = small_log[(small_log["direction"] == "outbound") & (small_log["port_code"] == port)]
    assert len(log) > 350  # past min_recent (200) and the window (300)
    compared = []

    def after(i, path, response):
        assert response.status_code == 201, response.json
        policy = apps[i].extensions["southbound.models"].served.policy
        with store.engine.connect() as conn:
            latest = store.recent_scores(conn, port, 300)
        window = RecentScores.of(300, latest)
        share = policy.config.capacity_of(port)
        if len(window) >= policy.min_recent:
            assert policy.threshold(port) == window.upper_quantile(share)
            assert len(policy.recent[port]) == len(window)
            compared.append(i)

    replay(Alternating([app.test_client() for app in apps], after), headers, log)
    assert len(compared) > 150 and set(compared) == {0, 1}
    for app in apps:
        app.extensions["southbound.store"].engine.dispose()


def test_the_window_is_read_again_only_when_the_refresh_interval_has_passed():
    from scoring.policy import PolicyConfig, ReferralPolicy
    policy = ReferralPolicy(PolicyConfig(), window=3, refresh_seconds=2.0)
    assert policy.stale("2304", now=100.0)
    policy.seed("2304", [0.5, 0.4, 0.3, 0.2], now=100.0)
    assert sorted(policy.recent["2304"].sorted) == [0.3, 0.4, 0.5]
    assert list(policy.recent["2304"].order) == [0.3, 0.4, 0.5]   # oldest first
    assert not policy.stale("2304", now=101.9)
    assert policy.stale("2304", now=102.0)
    assert policy.stale("2402", now=101.0)                           # never read
    once = ReferralPolicy(PolicyConfig(), window=3)                   # a simulation's
    once.seed("2304", [0.1], now=0.0)
    assert not once.stale("2304", now=1e9)


def _stored(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            count = lambda table, *where: conn.execute(                  # noqa: E731
                sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
            features = {r.crossing_id: json.loads(r.features) for r in conn.execute(
                sa.select(scores.c.crossing_id, scores.c.features))}
            referral = dict(conn.execute(sa.select(crossings.c.crossing_id,
                                                   crossings.c.referral)).all())
            return {"scores": count(scores), "crossings": count(crossings),
                    "outcomes": count(outcomes),
                    "audit_scores": count(audit, audit.c.action == "score"),
                    "shadow": dict(conn.execute(sa.select(shadow_scores.c.crossing_id,
                                                          shadow_scores.c.model_version)).all()),
                    "features": features, "referral": referral}
    finally:
        engine.dispose()


def _crossing(n, plate, at):
    return {"crossing_id": f"later-{n}", "crossed_at": at.isoformat(), "direction": "outbound",
            "port_code": "2304", "vehicle_class": "personal", "plate_id": plate}


@pytest.mark.slow
def test_two_instances_on_one_postgresql_act_as_one_service(pg_url, registry_path, tmp_path,
                                                            small_log, challenger_model):
    registry = registry_path                     # this test's own copy
    first = Registry(registry).resolve()
    challenger = Registry(registry).save(*challenger_model)
    check = 1.0
    env = {"SOUTHBOUND_MODEL_CHECK_SECONDS": str(check), "SOUTHBOUND_RATE_LIMIT_PER_MINUTE": "0",
           "SOUTHBOUND_REPORT_DIR": str(tmp_path / "reports")}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    log = small_log.head(1200)
    with serve(tmp_path / "a", registry, ("officer", "analyst"), env=env,
               database_url=pg_url) as a, \
            serve(tmp_path / "b", registry, ("officer",), env=env, database_url=pg_url) as b:
        officer = {"Authorization": f"Bearer {a.tokens['officer']}"}
        answers = replay(Alternating([HttpClient(a.url), HttpClient(b.url)]), officer, log,
                         outcome=logged_outcome)

        # every feature vector is what one instance computes offline from the same rows
        stored = _stored(pg_url)
        frame = log.copy()
        frame["referral"] = frame["crossing_id"].map(stored["referral"]).fillna("")
        frame = parse_frame(frame).frame
        offline = feature_frame(frame)
        offline.index = frame.loc[offline.index, "crossing_id"]
        assert len(stored["features"]) == len(offline) == len(answers) > 400
        assert_features_equal(stored["features"], offline)
        # history crossed instances: plates seen before (mostly northbound), repeat trips
        assert offline["plate_days_since_first_seen"].notna().sum() > 200
        assert (offline["plate_out_7d"] > 0).sum() > 20

        # each score, crossing and audit row once; a repeat to the other instance is the
        # stored answer, and stores nothing more
        assert stored["scores"] == stored["audit_scores"] == len(answers)
        assert stored["crossings"] == len(log)
        assert stored["outcomes"] == (log["inspected"] == "true").sum() > 0
        outbound = log[log["direction"] == "outbound"].iloc[0]
        repeat = crossing_body(outbound.to_dict())  # its cells as the API's JSON values
        for url in (a.url, b.url):
            status, again = call(url + "/v1/score", repeat, a.tokens["officer"])
            assert status == 200 and again == answers[outbound["crossing_id"]]
        after = _stored(pg_url)
        assert (after["scores"], after["audit_scores"]) == (stored["scores"],
                                                            stored["audit_scores"])

        # a lookout made through one instance refers at the other at once
        at = datetime(2025, 1, 8, 12, tzinfo=timezone.utc)
        status, _ = call(a.url + "/v1/lookouts", {
            "plate_id": "WATCHED-1", "reason": "test",
            "expires_at": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()},
            a.tokens["analyst"])
        assert status == 201
        status, answer = call(b.url + "/v1/score", _crossing(0, "WATCHED-1", at),
                              a.tokens["officer"])
        assert status == 201 and answer["refer"] is True

        # an activation through one instance: every request the other starts a check
        # interval later scores with it, whichever worker takes it
        status, _ = call(a.url + f"/v1/models/{challenger}/activate", {}, a.tokens["analyst"])
        assert status == 200
        time.sleep(check * 1.05)
        versions = set()
        for n in range(1, 11):
            status, answer = call(b.url + "/v1/score", _crossing(n, f"P-{n}", at),
                                  a.tokens["officer"])
            assert status == 201
            versions.add(answer["model_version"])
        assert versions == {challenger}

        # so does the shadow setting
        status, _ = call(a.url + f"/v1/models/{first}/shadow", {}, a.tokens["analyst"])
        assert status == 200
        time.sleep(check * 1.05)
        ids = []
        for n in range(11, 21):
            body = _crossing(n, f"P-{n}", at)
            status, _ = call(b.url + "/v1/score", body, a.tokens["officer"])
            assert status == 201
            ids.append(body["crossing_id"])
        shadow = _stored(pg_url)["shadow"]
        assert [shadow.get(i) for i in ids] == [first] * 10
