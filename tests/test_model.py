"""Model behaviour: the flat ensemble equals scikit-learn, contributions add up, scores are usable."""
import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from scoring.features import CATEGORICAL, FEATURE_GROUPS, FEATURES
from scoring.model import PROBABILITY_FLOOR, RiskModel
from scoring.reasons import GROUPS, explain, group_matrix, top_groups


def feature_table(n, seed):
    """Random feature rows where risk rises with quick turnarounds and new registrations."""
    rng = np.random.default_rng(seed)
    # noise in every feature, each column from its own stream: a feature added to the
    # catalog adds a column and changes no other draw (the risk factors' rows below
    # stay the same rows)
    X = pd.DataFrame({name: np.random.default_rng([seed, zlib.crc32(name.encode())]).normal(
        size=n) for name in FEATURES})
    X["port_code"] = rng.choice(["2304", "2402", "2506", "2604", None], size=n)
    X["vehicle_class"] = rng.choice(["personal", "truck"], size=n, p=[0.8, 0.2])
    X["body_type"] = rng.choice(["sedan", "suv", "pickup", None], size=n)
    X["plate_country"] = rng.choice(["US", "MX"], size=n)
    X["plate_jurisdiction"] = rng.choice(["US-TX", "MX-SON", "US-AZ"], size=n)
    X["vehicle_make"] = rng.choice(["FORD", "NISSAN", "RAREMAKE"], size=n, p=[0.5, 0.499, 0.001])
    X["plate_hours_since_inbound"] = np.where(rng.random(n) < 0.3, np.nan,
                                              rng.exponential(30, size=n))
    X["registration_age_days"] = rng.exponential(400, size=n)
    X["local_hour"] = rng.integers(0, 24, size=n).astype(float)
    logit = (-4.5 + 2.0 * (X["plate_hours_since_inbound"].fillna(99) < 6)
             + 1.5 * (X["registration_age_days"] < 60) + 0.8 * (X["body_type"] == "pickup"))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = feature_table(30_000, seed=0)
    X_cal, y_cal = feature_table(8_000, seed=1)
    model = RiskModel(max_iter=60).fit(X, y, np.ones(len(y)),
                                       calibration=(X_cal, y_cal, np.ones(len(y_cal))))
    return model


@pytest.fixture(scope="module")
def holdout():
    return feature_table(3_000, seed=2)[0]


def test_flat_ensemble_equals_scikit_learn_on_a_holdout(fitted, holdout):
    expected = fitted.booster_.decision_function(fitted._matrix(holdout))
    raw_compiled, _ = fitted.explain(holdout, compiled=True)
    raw_numpy, _ = fitted.explain(holdout, compiled=False)
    np.testing.assert_allclose(raw_compiled, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(raw_numpy, expected, rtol=0, atol=1e-9)


def test_one_row_path_equals_the_batch_path(fitted, holdout):
    raw, contributions = fitted.explain(holdout.iloc[:50])
    for i in range(50):
        features = holdout.iloc[i].to_dict()
        features = {k: (None if (isinstance(v, float) and np.isnan(v) and k in CATEGORICAL)
                        else v) for k, v in features.items()}
        r, c = fitted.explain_row(fitted.vector(features))
        assert r == pytest.approx(raw[i], abs=1e-9)
        np.testing.assert_allclose(c, contributions[i], atol=1e-9)

def test_one_row_leaves_equal_the_batch_walk_on_odd_values(fitted, holdout):
    """Missing values, unseen and negative category codes, huge numbers: same leaves."""
    ensemble = fitted.ensemble_
    X = fitted._matrix(holdout.iloc[:1000])
    rng = np.random.default_rng(5)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.05] = -1
    X[rng.random(X.shape) < 0.05] = 1e12
    expected = ensemble.leaves(X)
    got = np.array([ensemble.leaves_row(row) for row in X])
    np.testing.assert_array_equal(got, expected)
    assert ensemble.is_categorical.any()  # the categorical branch was exercised



def test_batch_contributions_are_the_leaves_rows_added_tree_by_tree(fitted, holdout,
                                                                     monkeypatch):
    """Bit for bit what one row's path adds (each tree's leaf row, in tree order), across
    the batch's chunks (a chunk of 7 rows: the last one short)."""
    from scoring.model import estimator
    monkeypatch.setattr(estimator, "SPARSE_CHUNK_ROWS", 7)
    ensemble = fitted.ensemble_
    leaves = ensemble.leaves(fitted._matrix(holdout.iloc[:100]))
    expected = np.zeros((len(leaves), ensemble.contrib.shape[1]))
    for t in range(leaves.shape[1]):
        expected += ensemble.contrib[leaves[:, t]]
    got = fitted._contributions(leaves)
    assert np.array_equal(got, expected)
    assert np.array_equal(got[3], ensemble.contrib[leaves[3]].sum(axis=0))
    assert (expected != 0).any(axis=0).sum() > 5


def _odd(X, seed):
    """``X`` with missing values, negative and unseen codes and huge numbers mixed in."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.05] = -1
    X[rng.random(X.shape) < 0.05] = 50
    X[rng.random(X.shape) < 0.03] = -0.0
    X[rng.random(X.shape) < 0.03] = 1e12
    return X


def test_the_boosters_input_matrix_is_scikit_learns_bit_for_bit(fitted, holdout,
                                                                monkeypatch):
    """The fast path gives the array scikit-learn's own preprocessing gives, on the
    model's matrix and on odd values, and it is the path taken (not a fallback)."""
    ensemble = fitted.ensemble_
    for X in (fitted._matrix(holdout), _odd(fitted._matrix(holdout), seed=3)):
        expected = fitted.booster_._preprocess_X(X, reset=False)
        with monkeypatch.context() as patch:
            patch.setattr(fitted.booster_, "_preprocess_X", _refused)
            got = ensemble.internal(X)
        assert got.shape == expected.shape and got.flags.c_contiguous
        assert np.array_equal(got, expected, equal_nan=True)
    with monkeypatch.context() as patch:    # and built from the frame, in one pass
        patch.setattr(fitted.booster_, "_preprocess_X", _refused)
        got = fitted._matrix(holdout, internal=True)
    assert got.flags.c_contiguous and fitted._matrix(holdout).flags.c_contiguous
    assert np.array_equal(got, fitted.booster_._preprocess_X(fitted._matrix(holdout),
                                                             reset=False), equal_nan=True)
    assert ensemble.booster._preprocessor is not None


def test_the_input_matrix_keeps_the_encoders_index_when_codes_have_gaps(monkeypatch):
    """Categories seen in training 0, 2, 5, 7 and missing: a code becomes its index
    among them (7 -> 3), unseen codes (1, 3, 8) and missing become NaN."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from scoring.model import TreeEnsemble
    rng = np.random.default_rng(0)
    cats = rng.choice([0.0, 2.0, 5.0, 7.0, np.nan], size=4000)
    X = np.column_stack([rng.normal(size=4000), cats, rng.normal(size=4000)])
    y = ((np.nan_to_num(cats, nan=1.0) > 4) ^ (X[:, 0] > 1)).astype(int)
    booster = HistGradientBoostingClassifier(max_iter=5, categorical_features=[1],
                                             early_stopping=False).fit(X, y)
    ensemble = TreeEnsemble(booster, 3)
    probe = np.column_stack([np.arange(12.0), [0, 1, 2, 3, 5, 7, 8, np.nan, -1, 7, 2, 0],
                             np.arange(12.0) / 7])
    expected = booster._preprocess_X(probe, reset=False)
    monkeypatch.setattr(booster, "_preprocess_X", _refused)
    got = ensemble.internal(probe)
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.array_equal(got[:9, 0], [0, np.nan, 1, np.nan, 2, 3, np.nan, np.nan, np.nan],
                          equal_nan=True)
    assert np.array_equal(ensemble.leaves_compiled(got), ensemble.leaves(probe))


def _refused(*args, **kwargs):
    raise AssertionError("scikit-learn's preprocessing was called")


def test_contributions_sum_to_the_raw_score(fitted, holdout):
    raw, contributions = fitted.explain(holdout)
    np.testing.assert_allclose(contributions.sum(axis=1) + fitted.ensemble_.bias, raw,
                               atol=1e-9)


def test_a_feature_without_a_value_on_the_rows_fitted_is_left_out_of_that_fit():
    # a cross-fitting fold can miss the few rows where a sparse feature has a value
    X, y = feature_table(3_000, seed=3)
    X["carrier_value_share"] = np.nan
    model = RiskModel(max_iter=5).fit(X, y, calibration=(X, y, None))
    assert "carrier_value_share" not in model.features_
    assert "plate_hours_since_inbound" in model.features_
    X["carrier_value_share"] = 0.5  # a value it never saw moves nothing: it is not read
    before = model.predict_proba(X.assign(carrier_value_share=np.nan))[:, 1]
    assert np.array_equal(model.predict_proba(X)[:, 1], before)


def test_unseen_category_is_scored_like_the_rare_bucket(fitted, holdout):
    a = holdout.iloc[:1].copy()
    b = a.copy()
    a["vehicle_make"], b["vehicle_make"] = "NEVER-SEEN", "RAREMAKE"
    assert fitted.decision_function(a)[0] == fitted.decision_function(b)[0]


def test_probabilities_are_never_exactly_zero_or_one(fitted):
    raw = np.array([-1e6, -50.0, -3.0, 0.0, 2.5, 50.0, 1e6])
    p = fitted.calibrate(raw)
    assert p.min() >= PROBABILITY_FLOOR and p.max() <= 1 - PROBABILITY_FLOOR
    assert np.all(np.diff(p) >= 0)
    # the service's scalar path gives the same numbers
    np.testing.assert_allclose([fitted.calibrate_one(r) for r in raw], p, rtol=1e-12, atol=0)


@pytest.mark.parametrize("column, low_risk, high_risk", [
    ("plate_hours_since_inbound", 48.0, 2.0),
    ("registration_age_days", 900.0, 10.0),
    ("body_type", "sedan", "pickup"),
], ids=["quick-turnaround", "new-registration", "pickup"])
def test_a_risk_factor_moves_the_score_the_right_way(fitted, holdout, column, low_risk, high_risk):
    low, high = holdout.copy(), holdout.copy()
    low[column], high[column] = low_risk, high_risk
    p_low, p_high = fitted.predict_proba(low)[:, 1], fitted.predict_proba(high)[:, 1]
    assert (p_high >= p_low).mean() > 0.95
    assert p_high.mean() > 1.5 * p_low.mean()


@pytest.mark.parametrize("column, one, other", [
    ("vehicle_make", "FORD", "NISSAN"),
    ("plate_country", "US", "MX"),
], ids=["make", "plate-country"])
def test_an_irrelevant_change_does_not_move_the_score(fitted, holdout, column, one, other):
    """A feature the model reads but the labels never depended on (``feature_table``):
    the scores barely move. The risk factors above move the mean by 1.9 to 3.2 times
    and a twentieth of the rows by 0.09 or more; these by 1 to 3% and under 0.01."""
    assert column in FEATURES  # a column the model does not read would prove nothing
    a, b = holdout.copy(), holdout.copy()
    a[column], b[column] = one, other
    p_a, p_b = fitted.predict_proba(a)[:, 1], fitted.predict_proba(b)[:, 1]
    assert p_b.mean() == pytest.approx(p_a.mean(), rel=0.05)
    assert np.quantile(np.abs(p_b - p_a), 0.95) < 0.01


GROUP_MEMBERS = [(group, name) for group, members in FEATURE_GROUPS.items()
                 for name in (group,) + members]


@pytest.mark.parametrize("group,name", GROUP_MEMBERS,
                         ids=[f"{g}-off-by-{n}" for g, n in GROUP_MEMBERS])
def test_switching_off_one_member_of_a_group_switches_off_the_whole_group(group, name):
    """Whichever member is named (or the group), no member's value moves a score."""
    X, y = feature_table(5_000, seed=3)
    model = RiskModel(max_iter=10, exclude=(name,))
    model.fit(X, y, calibration=(X, y, np.ones(len(y))))
    members = FEATURE_GROUPS[group]
    assert not set(members) & set(model.features_)
    changed = X.copy()
    for member in members:
        changed[member] = X[member].iloc[::-1].to_numpy()  # other rows' values
    np.testing.assert_array_equal(model.predict_proba(changed), model.predict_proba(X))


def test_a_model_pickled_under_the_old_module_path_loads(fitted, holdout):
    """Artifacts saved before scoring/model.py became a package name its classes
    ``scoring.model.<Name>`` in the pickle: they load, and score the same."""
    import pickle
    data = pickle.dumps(fitted, protocol=3)  # protocol 3 names each class on one text line
    for part in (b"estimator", b"encoder", b"trees"):
        data = data.replace(b"cscoring.model." + part + b"\n", b"cscoring.model\n")
    assert b"cscoring.model\nRiskModel\n" in data and b"cscoring.model.trees" not in data
    old = pickle.loads(data)
    assert type(old) is RiskModel and type(old.ensemble_).__name__ == "TreeEnsemble"
    assert np.array_equal(old.predict_proba(holdout), fitted.predict_proba(holdout))
    assert np.array_equal(old.explain(holdout)[1], fitted.explain(holdout)[1])


def test_the_calibration_follows_the_estimator_contract():
    """PlattCalibration stores its arguments, returns itself from fit, refuses to predict
    unfitted, and gives the model's own calibrated probabilities."""
    from sklearn.exceptions import NotFittedError
    from scoring.model import PlattCalibration
    rng = np.random.default_rng(0)
    raw = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * raw))).astype(int)
    platt = PlattCalibration(C=10.0)
    assert clone(platt).get_params() == {"C": 10.0}
    with pytest.raises(NotFittedError):
        platt.predict(raw)
    assert platt.fit(raw, y) is platt and platt.slope_ > 0
    model = RiskModel()
    model.calibration_ = (platt.slope_, platt.intercept_)
    assert np.array_equal(platt.predict(raw), model.calibrate(raw))
    assert platt.predict(raw[:1])[0] == model.calibrate_one(float(raw[0]))


def test_follows_the_estimator_contract():
    model = RiskModel(max_iter=7)
    assert clone(model).get_params()["max_iter"] == 7
    with pytest.raises(Exception, match="not fitted"):
        model.predict_proba(feature_table(10, 0)[0])
    with pytest.raises(ValueError, match="both seizures and clean"):
        X, y = feature_table(100, 0)
        model.fit(X, np.zeros(100), calibration=(X, y, None))


def test_reasons_name_the_factors_that_raised_the_score(fitted, holdout):
    row = holdout.iloc[0].to_dict()
    row.update(plate_hours_since_inbound=1.8, registration_age_days=12.0, body_type="pickup",
               plate_inbound_other_port=1.0, port_code="2304",
               plate_last_inbound_port="2402")
    _, contributions = fitted.explain_row(fitted.vector(row))
    groups = top_groups(contributions, group_matrix(fitted.features_))[0]
    reasons = explain(row, groups)
    texts = [r["text"] for r in reasons]
    assert "left 1.8 h after entering at El Paso, leaving by Laredo" in texts
    assert "registration 12 days old" in texts
    assert len(reasons) == 3


def test_every_feature_has_a_reason_group():
    group_matrix(FEATURES)
    assert len({g for g, _, _ in GROUPS}) == len(GROUPS)


def test_top_groups_of_one_crossing_equal_those_of_a_batch():
    """The service's one-row path of top_groups gives what the batch path gives."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        contributions = rng.normal(size=30) * (rng.random(30) < 0.5)
        if rng.random() < 0.2:
            contributions[:] = 0.0  # nothing raised the score
        matrix = (rng.random((30, 8)) < 0.2).astype(float)
        one = top_groups(contributions, matrix)
        batch = top_groups(contributions[None, :], matrix)
        assert one.shape == batch.shape == (1, 3)
        assert (one == batch).all()


def test_the_rows_order_in_the_log_does_not_change_the_model(world_frame, trained):
    """The contract lets rows come in any order: the same crossings, shuffled, give the
    same model (trees, calibration and scores)."""
    from training.fit import train
    shuffled = world_frame.sample(frac=1.0, random_state=7)
    assert not shuffled["crossing_id"].reset_index(drop=True).equals(
        world_frame["crossing_id"].reset_index(drop=True))
    model, manifest = train(shuffled, progress=lambda message: None)
    first, first_manifest = trained
    assert manifest["data"] == first_manifest["data"]
    assert model.calibration_ == first.calibration_
    assert len(model.ensemble_.roots) == len(first.ensemble_.roots)
    assert np.array_equal(model.ensemble_.value, first.ensemble_.value)


def picked_table(n, seed):
    """:func:`feature_table` with how each row was picked: officers pick on a hunch the
    features do not hold (a sixth of their picks carry whatever the features say)."""
    X, y = feature_table(n, seed)
    rng = np.random.default_rng([seed, 7])
    X["referral"] = rng.choice(["random", "explore", "officer", "lookout"], size=n,
                               p=[0.3, 0.05, 0.55, 0.1])
    hunch = (X["referral"] == "officer").to_numpy() & (rng.random(n) < 1 / 6)
    return X, np.maximum(y, hunch.astype(int))


@pytest.fixture(scope="module")
def picked():
    """The same rows fitted with the picks learnt and ignored: (learnt, ignored)."""
    X, y = picked_table(30_000, seed=3)
    X_cal, y_cal = picked_table(8_000, seed=4)
    w = np.ones(len(y)), np.ones(len(y_cal))
    return tuple(RiskModel(max_iter=60, learn_picks=learn).fit(
        X, y, w[0], calibration=(X_cal, y_cal, w[1])) for learn in (True, False))


def test_the_picks_learnt_put_an_officers_hunch_down_to_the_pick(picked, holdout):
    learnt, ignored = picked
    assert learnt.streams == ("lookout", "officer", "random")   # explore is a random draw
    assert ignored.streams is None
    assert len(learnt.features_) == len(ignored.features_)
    # scored as random draws: the hunch's carriers do not lift every crossing's score
    neutral, _ = learnt.explain(holdout)
    as_ignored, _ = ignored.explain(holdout)
    assert neutral.mean() < as_ignored.mean() - 0.3
    # ... while the trees did learn it: the same rows as officers' picks score higher
    as_officer = learnt.booster_.decision_function(
        learnt._matrix(holdout, selection=np.full(len(holdout), "officer", dtype=object)))
    assert (as_officer - neutral).mean() > 0.3
    # and the features' own risk factors still order the crossings
    quick = holdout.assign(plate_hours_since_inbound=1.0)
    slow = holdout.assign(plate_hours_since_inbound=300.0)
    assert (learnt.explain(quick)[0] > learnt.explain(slow)[0]).mean() > 0.9


def test_a_model_that_learnt_the_picks_scores_alike_on_every_path(picked, holdout):
    learnt = picked[0]
    raw, contributions = learnt.explain(holdout, compiled=True)
    np.testing.assert_allclose(raw, learnt.booster_.decision_function(learnt._matrix(holdout)),
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(learnt.explain(holdout, compiled=False)[0], raw, rtol=0,
                               atol=1e-9)
    assert contributions.shape == (len(holdout), len(learnt.features_))
    for i in range(5):
        row = learnt.vector(holdout.iloc[i].to_dict())
        one_raw, one = learnt.explain_row(row)
        assert one_raw == pytest.approx(raw[i], abs=1e-9)
        np.testing.assert_allclose(one, contributions[i], rtol=0, atol=1e-9)
    # the batch scores a frame that carries its own referral column as a random draw
    assert np.array_equal(learnt.explain(holdout.assign(referral="officer"))[0], raw)


@pytest.mark.parametrize("referral", [["officer", "lookout"], ["random", "explore"]])
def test_picks_that_cannot_be_told_from_a_random_draw_leave_the_features_alone(referral):
    X, y = feature_table(6_000, seed=5)
    X["referral"] = np.resize(referral, len(X))
    model = RiskModel(max_iter=10).fit(X, y, np.ones(len(y)),
                                       calibration=(X, y, np.ones(len(y))))
    assert model.streams is None
    assert model.booster_.n_features_in_ == len(model.features_)
