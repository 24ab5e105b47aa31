"""One definition, two executions: features online (API + store) equal features offline."""
import json
import math

import pytest
import sqlalchemy as sa


from scoring.contract import OUTCOME_COLUMNS, parse_frame, parse_record
from scoring.features import FEATURES, LAST_INBOUND_PORT, feature_frame, feature_record
from service.store import Store, crossings, scores
from tests.helpers.logs import raw
from tests.helpers.replay import assert_features_equal, logged_outcome, replay
from tests.helpers.logs import convoy_rows, random_log
from training.synth import WorldConfig, generate_world


@pytest.fixture(scope="module")
def small_log():
    log, _ = generate_world(WorldConfig(days=5, seed=21, scale=0.002))
    return log


def assert_same(got, want, where):
    """One feature value online (JSON: None for missing) against offline, exactly."""
    if want is None or (isinstance(want, float) and math.isnan(want)):
        assert got is None or (isinstance(got, float) and math.isnan(got)), (where, got)
    else:
        assert got == want, (where, got, want)


def as_stored(app, log):
    """The log with each crossing's referral as the service stored it: its own decision
    (or "officer" for an inspection it did not ask for), which is what it counts online."""
    with app.extensions["southbound.store"].engine.connect() as conn:
        stored = dict(conn.execute(sa.select(crossings.c.crossing_id, crossings.c.referral)).all())
    out = log.copy()
    out["referral"] = out["crossing_id"].map(stored).fillna("")
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_store_history_equals_the_offline_pass_on_an_imported_log(database_url, seed):
    """A log imported into the store as it is (the contract's referral and outcomes), then
    every outbound crossing's features looked up online, equal the offline pass: ties in
    time, outcome lags, window edges, trucks without a carrier, first-ever crossings."""
    rows = random_log(seed, n=400)
    rows[7].update(carrier_id="", vehicle_class="truck")
    rows += [dict(r, crossing_id="convoy-" + r["crossing_id"], plate_id="convoy-" + r["plate_id"])
             for r in convoy_rows(day0=10 * seed, port="2506")]
    frame = parse_frame(raw(rows)).frame
    offline = feature_frame(frame)
    store = Store(database_url)
    try:
        store.migrate()
        records = [parse_record(r) for r in rows]
        with store.write() as conn:
            for record in records:
                store.insert_crossing(conn, record)
        with store.engine.connect() as conn:
            for i in offline.index:
                online = feature_record(records[i], store.history(conn, records[i]))
                for name in list(FEATURES) + [LAST_INBOUND_PORT]:
                    assert_same(online[name], offline.loc[i, name], (i, name))
    finally:
        store.engine.dispose()
    assert (offline["plate_prior_referrals"] > 0).any()
    assert offline["plate_turnaround_ratio"].notna().any()
    assert offline["port_hour_share_7d"].between(0, 1, inclusive="neither").any()
    assert (offline["plate_convoy_partners"] > 0).any()
    # earlier rows by their own carrier_value_share (a below spec), rows stored in time order
    assert (offline["plate_unusual_loads"] > 0).any()
    # the behaviour against the entity's own routine (issue 25), each value exercised
    for name in ("plate_hour_share_14d", "plate_port_share", "carrier_value_share",
                 "plate_value_share"):
        values = offline[name]
        assert values.between(0, 1, inclusive="neither").any(), name
        assert (values == 0).any() and values.isna().any(), name


def test_replayed_log_gives_the_offline_features_exactly(app, client, auth, small_log):
    replay(client, auth["officer"], small_log, outcome=logged_outcome)
    frame = parse_frame(as_stored(app, small_log)).frame
    offline = feature_frame(frame)
    offline.index = frame.loc[offline.index, "crossing_id"]
    with app.extensions["southbound.store"].engine.connect() as conn:
        online = {r.crossing_id: json.loads(r.features)
                  for r in conn.execute(sa.select(scores.c.crossing_id, scores.c.features))}
    assert len(online) == len(offline) > 1000
    compared = assert_features_equal(online, offline)
    # history really was exercised: repeat plates, prior outcomes, other ports
    assert (offline["plate_out_7d"] > 0).mean() > 0.3
    assert (offline["plate_prior_inspections"] > 0).sum() > 0
    assert (offline["plate_inbound_other_port"] == 1).sum() > 0
    assert (offline["plate_prior_referrals"] > 0).sum() > 0
    assert offline["plate_turnaround_ratio"].notna().sum() > 0
    assert offline["port_hour_share_7d"].notna().sum() > 0
    assert compared == len(offline) * (len(FEATURES) + 1)


def test_online_scores_equal_the_trained_models_offline_scores(app, client, auth, small_log,
                                                               trained):
    """Whatever evaluates online gives the trained model's own probabilities."""
    model, _ = trained
    log = small_log.head(1500).copy()
    log[list(OUTCOME_COLUMNS)] = ""       # the service is told no outcomes in this replay
    replay(client, auth["officer"], log)
    frame = parse_frame(as_stored(app, log)).frame   # the service knows its own referrals
    feats = feature_frame(frame)
    expected = model.predict_proba(feats[list(FEATURES)])[:, 1]
    ids = frame.loc[feats.index, "crossing_id"]
    with app.extensions["southbound.store"].engine.connect() as conn:
        got = dict(conn.execute(sa.select(scores.c.crossing_id, scores.c.risk_score)).all())
    for crossing_id, want in zip(ids, expected):
        assert got[crossing_id] == pytest.approx(want, rel=1e-9, abs=1e-12)


#: the features added with issue 11 item 4; a model saved before them knows none
BEHAVIOUR = ("plate_prior_referrals", "port_hour_share_7d", "plate_convoy_partners",
             "plate_out_per_day",
             "plate_turnaround_ratio", "plate_burst_7_30", "registration_age_first_seen")


@pytest.fixture(scope="module")
def model_before_behaviour(world_frame):
    """(model, manifest) trained without the behaviour features (read-only: each test
    saves it to a registry of its own)."""
    from training.fit import TrainConfig, train
    return train(world_frame, TrainConfig(exclude=BEHAVIOUR), progress=lambda message: None)


def test_a_model_saved_before_the_behaviour_features_still_loads_and_scores(
        database_url, model_before_behaviour, small_log, tmp_path):
    """An older artifact carries its own ``features_``: the service feeds it those alone,
    its online scores equal its offline ones, and the stored vector has every feature."""
    from models.registry import Registry
    from service import create_app
    from service.auth import create_token
    model, manifest = model_before_behaviour
    assert not set(BEHAVIOUR) & set(model.features_)
    manifest = dict(manifest, excluded_features=[])  # as written before these features
    Registry(tmp_path / "registry").save(model, manifest)
    app = create_app({"DATABASE_URL": database_url, "REGISTRY": str(tmp_path / "registry"),
                      "REPORT_DIR": str(tmp_path / "reports"), "TOKEN_CACHE_SECONDS": 0,
                      "MODEL_CHECK_SECONDS": 0, "RANDOM_SEED": 1, "LOG_LEVEL": "WARNING",
                      "RATE_LIMIT_PER_MINUTE": 0})
    try:
        store = app.extensions["southbound.store"]
        headers = {"Authorization": f"Bearer {create_token(store, 'officer', 'old-model')}"}
        log = small_log.head(400).copy()
        log[list(OUTCOME_COLUMNS)] = ""
        replay(app.test_client(), headers, log)
        frame = parse_frame(as_stored(app, log)).frame
        feats = feature_frame(frame)
        expected = model.predict_proba(feats[list(FEATURES)])[:, 1]
        with store.engine.connect() as conn:
            got = {r.crossing_id: (r.risk_score, json.loads(r.features)) for r in
                   conn.execute(sa.select(scores.c.crossing_id, scores.c.risk_score,
                                          scores.c.features))}
        for crossing_id, want in zip(frame.loc[feats.index, "crossing_id"], expected):
            score, vector = got[crossing_id]
            assert score == pytest.approx(want, rel=1e-9, abs=1e-12)
            assert set(BEHAVIOUR) <= set(vector)
    finally:
        app.extensions["southbound.store"].engine.dispose()
