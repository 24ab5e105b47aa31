"""The referral policy file and its online decisions: a declared schema, a version that
hashes every key, and exploration picks whose logged probability is the real one."""
from __future__ import annotations

import numpy as np
import pytest

from scoring.policy import PolicyConfig, ReferralPolicy, ScoreQuantiles

QUANTILES = ScoreQuantiles({"0.02": 0.5, "0.5": 0.1})  # threshold 0.5 at a 2% capacity


def write(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,message", [
    ("random_shar = 0.02\n", "unknown key 'random_shar'"),
    ("[explore]\nunseen = 2.0\n", "unknown key 'explore.unseen'"),
    ("explore = 3\n", "is not a table"),
    ("explore_share = 1.5\n", "explore_share 1.5 is not a share"),
    ("[explore]\nnear_threshold = -1\n", "explore.near_threshold -1 is not a weight"),
])
def test_a_policy_file_with_an_unknown_or_bad_key_is_refused(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        PolicyConfig.from_toml(write(tmp_path, text))


def test_every_key_is_in_the_policy_version(tmp_path):
    base = ReferralPolicy(PolicyConfig.from_toml(write(tmp_path, "random_share = 0.02\n")))
    versions = {base.version}
    for text in ("random_share = 0.03\n", "default_capacity = 0.03\n",
                 "explore_share = 0.03\n", "[explore]\nunseen_plate = 2.0\n",
                 "[explore]\nnear_threshold = 2.0\n", "[explore]\nsparse_cell = 2.0\n",
                 "[capacity]\n\"2304\" = 0.05\n", "[bands]\nlow = 0.0\nhigh = 0.3\n"):
        versions.add(ReferralPolicy(PolicyConfig.from_toml(write(tmp_path, text))).version)
    assert len(versions) == 9
    # the file's form does not matter, only its values
    same = PolicyConfig.from_toml(write(tmp_path, "explore_share = 0.01\nrandom_share = 0.02\n"))
    assert ReferralPolicy(same).version == base.version


def test_without_exploration_nothing_is_explored_and_decisions_are_as_before():
    policy = ReferralPolicy(PolicyConfig(random_share=0.02, explore_share=0.0), QUANTILES)
    assert policy.decide(0.6, "2304", False, 0.5).source == "model"
    assert policy.decide(0.3, "2304", False, 0.01) == policy.decide(0.3, "2304", False, 0.01)
    decision = policy.decide(0.3, "2304", False, 0.5, unseen=True)
    assert (decision.refer, decision.source, decision.selection_probability) == (
        False, "none", 0.02)


def test_exploration_picks_where_the_model_knows_least_with_its_true_probability():
    config = PolicyConfig(random_share=0.02, explore_share=0.01)
    policy = ReferralPolicy(config, QUANTILES, min_recent=10**9)
    rng = np.random.default_rng(0)
    n = 60_000
    scores = rng.uniform(0.0, 0.45, size=n)       # never a model pick (threshold 0.5)
    unseen = rng.random(n) < 0.1
    draws = rng.random(n)
    decisions = [policy.decide(s, "2304", False, d, bool(u))
                 for s, d, u in zip(scores, draws, unseen)]
    source = np.array([d.source for d in decisions])
    pi = np.array([d.selection_probability for d in decisions])
    explored = source == "explore"
    # about the share asked for, more of the unseen plates and of the near-threshold scores
    assert 0.008 < explored.mean() < 0.012
    near = scores >= 0.25
    assert explored[unseen].mean() > 2 * explored[~unseen & ~near].mean()
    assert explored[near & ~unseen].mean() > 2 * explored[~unseen & ~near].mean()
    # the logged probability is the chance of being referred by any rule: on average it
    # equals how often such crossings were referred (random or explored)
    referred = source != "none"
    for cell in (unseen, ~unseen & near, ~unseen & ~near):
        assert referred[cell].mean() == pytest.approx(pi[cell].mean(), rel=0.12)
    assert set(source) == {"none", "random", "explore"}
    assert (pi[source == "random"] > 0.02).any()  # a random pick also had the explore chance
    # and the IPW estimate of the count of crossings, from referred ones only, is unbiased
    assert (1 / pi[referred]).sum() == pytest.approx(n, rel=0.05)


def test_exploration_favours_the_cells_the_port_has_rarely_referred():
    # the model refers only night crossings (hours 0-5); exploration, with only the
    # sparse-cell cue on, must then favour the day cells, where labels are fewest
    config = PolicyConfig(random_share=0.0, explore_share=0.02, explore_unseen_plate=0.0,
                          explore_near_threshold=0.0, explore_sparse_cell=4.0)
    policy = ReferralPolicy(config, QUANTILES, min_recent=10**9)
    rng = np.random.default_rng(1)
    n = 40_000
    hours = rng.integers(0, 24, n)
    night = hours < 6
    scores = np.where(night & (rng.random(n) < 0.2), 0.9, 0.05)
    draws = rng.random(n)
    decisions = [policy.decide(s, "2304", False, d, cell=(int(h), "personal"))
                 for s, d, h in zip(scores, draws, hours)]
    source = np.array([d.source for d in decisions])
    pi = np.array([d.selection_probability for d in decisions])
    explored = source == "explore"
    assert explored[~night].mean() > 2 * explored[night].mean()
    # the logged probability is still the true chance of a pick, cell by cell: the
    # count of picks is within four standard deviations of the sum of the chances
    for cell in (night & (source != "model"), ~night):
        expected, sd = pi[cell].sum(), np.sqrt((pi[cell] * (1 - pi[cell])).sum())
        assert abs(explored[cell].sum() - expected) < 4 * sd
    # without cells (or with the cue off) every crossing weighs the same
    flat = ReferralPolicy(config, QUANTILES, min_recent=10**9)
    flat_pi = [flat.decide(0.05, "2304", False, 0.99).selection_probability for _ in range(50)]
    assert flat_pi == [pytest.approx(0.02)] * 50


def test_a_model_pick_or_lookout_is_certain_and_never_explored():
    policy = ReferralPolicy(PolicyConfig(random_share=0.02, explore_share=0.5), QUANTILES)
    assert policy.decide(0.7, "2304", False, 0.9, unseen=True).source == "model"
    assert policy.decide(0.7, "2304", False, 0.9).selection_probability == 1.0
    assert policy.decide(0.1, "2304", True, 0.9).source == "lookout"


def test_the_service_stores_an_exploration_pick_as_explore_and_the_officer_sees_refer(
        database_url, registry_path, tmp_path):
    from service import create_app
    from service.store import crossings
    from tests.helpers.service import outbound, rows, tokens_for
    policy = write(tmp_path, "random_share = 0.0\ndefault_capacity = 0.0\nexplore_share = 1.0\n")
    app = create_app({"DATABASE_URL": database_url, "REGISTRY": str(registry_path),
                      "REPORT_DIR": str(tmp_path / "reports"), "TOKEN_CACHE_SECONDS": 0,
                      "MODEL_CHECK_SECONDS": 0, "RANDOM_SEED": 1, "LOG_LEVEL": "WARNING",
                      "RATE_LIMIT_PER_MINUTE": 0, "POLICY_FILE": str(policy)})
    try:
        auth = tokens_for(app)
        answer = app.test_client().post("/v1/score", json=outbound(1), headers=auth["officer"])
        assert answer.status_code == 201 and answer.json["refer"] is True
        assert "explore" not in str(answer.json)  # the officer sees "refer", no rule
        stored = rows(app, crossings, crossing_id="o1")[0]
        assert stored["referral"] == "explore" and stored["selection_probability"] == 1.0
        seen = app.test_client().get("/v1/crossings/o1", headers=auth["analyst"]).json
        assert seen["score"]["referral_source"] == "explore"
    finally:
        app.extensions["southbound.store"].engine.dispose()
