"""Batch referrals follow the model's own per-port score quantiles, not the file.

Before, each port's top ``ceil(capacity × n)`` rows *of the file* were referred, so a
small file referred low-risk crossings (every port at least one). Now a crossing is
referred when its score reaches the model's quantile for its port's capacity, which
training records per port: the same crossings get the same picks in one file, in ten
files, and through a fresh service.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from scoring.batch import score_frame
from scoring.contract import OUTCOME_COLUMNS, parse_frame
from scoring.policy import (PolicyConfig, ReferralPolicy, ScoreQuantiles, batch_referrals,
                            quantile_table, score_quantiles)
from service.replay import replay

NO_RANDOM = PolicyConfig(random_share=0.0)
#: a capacity at which one day of the small world has model referrals enough to compare
DAY_POLICY = PolicyConfig(random_share=0.0, default_capacity=0.05)


def test_a_threshold_is_the_recorded_quantile_and_interpolates_between():
    scores = np.linspace(0, 1, 10_001)
    table = quantile_table(scores)
    q = ScoreQuantiles(table)
    assert q.threshold("2304", 0.02) == pytest.approx(0.98)
    assert q.threshold("2304", 0.01) == pytest.approx(0.99)
    between = q.threshold("2304", 0.012)
    assert 0.98 < between < 0.99
    assert q.threshold("2304", 0.0) == float("inf")
    assert q.threshold("2304", 1.0) == float("-inf")   # inspect everything: refer everything
    assert q.threshold("2304", 0.9) == pytest.approx(0.5)  # past the last share: it holds


def test_each_port_gets_its_own_quantiles_when_it_has_the_rows():
    rng = np.random.default_rng(0)
    busy = rng.beta(1, 30, 5000)            # a port with low scores
    risky = rng.beta(2, 10, 3000)           # one with higher scores
    tiny = rng.beta(2, 10, 50)              # too few rows for its own table
    scores = np.concatenate([busy, risky, tiny])
    ports = ["2304"] * 5000 + ["2506"] * 3000 + ["2606"] * 50
    manifest = {"score_quantiles": score_quantiles(scores, ports)}
    assert set(manifest["score_quantiles"]["ports"]) == {"2304", "2506"}
    q = ScoreQuantiles.from_manifest(manifest)
    config = PolicyConfig(default_capacity=0.02, capacity={"2506": 0.05})
    refer = batch_referrals(scores, ports, config, q)
    ports = np.array(ports)
    # each port's capacity is met on its own traffic (pooled, the risky port took most)
    assert refer[ports == "2304"].mean() == pytest.approx(0.02, abs=0.002)
    assert refer[ports == "2506"].mean() == pytest.approx(0.05, abs=0.002)
    assert q.threshold("2606", 0.02) == q.threshold("9999", 0.02)  # pooled


def test_models_trained_before_per_port_quantiles_still_serve():
    q = ScoreQuantiles.from_manifest({"score_quantiles": {"0.01": 0.3, "0.02": 0.2}})
    assert q.threshold("2304", 0.02) == pytest.approx(0.2)
    assert not ScoreQuantiles.from_manifest({})
    policy = ReferralPolicy(NO_RANDOM, q)
    assert policy.threshold("2304") == pytest.approx(0.2)


def test_a_small_file_refers_no_low_risk_crossing(trained, world_frame):
    model, manifest = trained
    q = ScoreQuantiles.from_manifest(manifest)
    few = world_frame.iloc[:49]
    scored = score_frame(model, few, NO_RANDOM, q)
    thresholds = {p: q.threshold(p, 0.02) for p in few["port_code"].unique()}
    outbound = few.loc[few["direction"] == "outbound"]
    for (_, row), port in zip(scored.iterrows(), outbound["port_code"]):
        assert row["refer"] == (row["risk_score"] >= round(thresholds[port], 6) - 1e-6)
    assert scored["refer"].sum() < 0.2 * len(scored)   # not "every port at least one"
    assert not scored.loc[scored["refer"], "risk_band"].eq("low").any()


@pytest.fixture(scope="module")
def one_day(world):
    """One day of the small world as text cells (fewer than 200 outbound at any port,
    so a fresh service decides on the model's quantiles throughout)."""
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    day = log.loc[log["crossed_at"].str[:10] == "2025-02-20"].copy()
    assert (day["direction"] == "outbound").groupby(day["port_code"]).sum().max() < 200
    return day


@pytest.fixture(scope="module")
def plate_keyed(world_frame):
    """A model on the features of the crossing and of its own plate and carrier only:
    the port's traffic and convoy links see other plates, which a file cut by plate
    does not hold, so they would change the scores this test compares."""
    from training.fit import TrainConfig, train
    return train(world_frame, TrainConfig(exclude=("port_hour_share_7d",
                                                   "plate_convoy_partners")),
                 progress=lambda m: None)


def _referred(scored):
    return dict(zip(scored["crossing_id"], scored["refer"]))


def test_the_same_crossings_get_the_same_model_referrals_however_they_come(
        plate_keyed, one_day, tmp_path):
    from service import create_app

    model, manifest = plate_keyed
    q = ScoreQuantiles.from_manifest(manifest)
    whole = score_frame(model, parse_frame(one_day).frame, DAY_POLICY, q)
    assert whole["refer"].sum() >= 5, "premise: the day has referrals to compare"

    # ten files, each a set of plates (and carriers) with all their rows, so each
    # crossing keeps the history it had in the one file
    key = one_day["carrier_id"].where(one_day["carrier_id"] != "", one_day["plate_id"])
    bucket = key.map(lambda k: zlib.crc32(k.encode()) % 10)
    parts = [score_frame(model, parse_frame(one_day.loc[bucket == b]).frame, DAY_POLICY, q)
             for b in range(10)]
    pieces = pd.concat(parts).set_index("crossing_id").loc[whole["crossing_id"]]
    assert np.allclose(pieces["risk_score"], whole["risk_score"])  # premise: same scores
    assert _referred(pieces.reset_index()) == _referred(whole)

    # a fresh service, random share 0, no exploration, no lookouts
    from models.registry import Registry
    registry = Registry(tmp_path / "registry")
    registry.save(model, dict(manifest))
    policy = tmp_path / "policy.toml"
    policy.write_text("random_share = 0.0\nexplore_share = 0.0\ndefault_capacity = 0.05\n")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
                      "REGISTRY": str(registry.root), "POLICY_FILE": str(policy),
                      "TOKEN_CACHE_SECONDS": 0, "LOG_LEVEL": "WARNING",
                      "RATE_LIMIT_PER_MINUTE": 0})
    from service.auth import create_token
    token = create_token(app.extensions["southbound.store"], "officer", "t")
    served = one_day.copy()
    served[list(OUTCOME_COLUMNS)] = ""
    answers = replay(app.test_client(), {"Authorization": f"Bearer {token}"}, served)
    assert {k: a["refer"] for k, a in answers.items()} == _referred(whole)
    app.extensions["southbound.store"].engine.dispose()
