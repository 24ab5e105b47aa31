"""One definition, two executions: features online (API + store) equal features offline."""
import json
import math

import pytest
import sqlalchemy as sa

from scoring.contract import OUTCOME_COLUMNS, parse_frame
from scoring.features import FEATURES, LAST_INBOUND_PORT, feature_frame
from service.store import scores
from tests.replay import logged_outcome, replay
from training.synth import WorldConfig, generate_world


@pytest.fixture(scope="module")
def small_log():
    log, _ = generate_world(WorldConfig(days=5, seed=21, scale=0.002))
    return log


def test_replayed_log_gives_the_offline_features_exactly(app, client, auth, small_log):
    replay(client, auth["officer"], small_log, outcome=logged_outcome)
    frame = parse_frame(small_log).frame
    offline = feature_frame(frame)
    offline.index = frame.loc[offline.index, "crossing_id"]
    with app.extensions["southbound.store"].engine.connect() as conn:
        online = {r.crossing_id: json.loads(r.features)
                  for r in conn.execute(sa.select(scores.c.crossing_id, scores.c.features))}
    assert len(online) == len(offline) > 1000
    compared = 0
    for crossing_id, expected in offline.iterrows():
        got = online[crossing_id]
        for name in list(FEATURES) + [LAST_INBOUND_PORT]:
            want = expected[name]
            if want is None or (isinstance(want, float) and math.isnan(want)):
                assert got[name] is None, (crossing_id, name, got[name])
            else:
                assert got[name] == want, (crossing_id, name, got[name], want)
            compared += 1
    # history really was exercised: repeat plates, prior outcomes, other ports
    assert (offline["plate_out_7d"] > 0).mean() > 0.3
    assert (offline["plate_prior_inspections"] > 0).sum() > 0
    assert (offline["plate_inbound_other_port"] == 1).sum() > 0
    assert compared == len(offline) * (len(FEATURES) + 1)


def test_online_scores_equal_the_trained_models_offline_scores(app, client, auth, small_log,
                                                               trained):
    """Whatever evaluates online gives the trained model's own probabilities."""
    model, _ = trained
    log = small_log.head(1500).copy()
    log[list(OUTCOME_COLUMNS)] = ""       # the service is told no outcomes in this replay
    replay(client, auth["officer"], log)
    frame = parse_frame(log).frame
    feats = feature_frame(frame)
    expected = model.predict_proba(feats[list(FEATURES)])[:, 1]
    ids = frame.loc[feats.index, "crossing_id"]
    with app.extensions["southbound.store"].engine.connect() as conn:
        got = dict(conn.execute(sa.select(scores.c.crossing_id, scores.c.risk_score)).all())
    for crossing_id, want in zip(ids, expected):
        assert got[crossing_id] == pytest.approx(want, rel=1e-9, abs=1e-12)
