"""Horvitz–Thompson estimates at budgets: unbiased from a biased sample of inspections."""
import numpy as np
import pandas as pd
import pytest

from training.evaluate import (Labels, budget_table, calibration, evaluate_scores, propensity,
                               top_k)


def population(n=200_000, seed=0):
    """Outbound rows with a known truth, inspected by a biased policy with known pi."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    carrier = rng.random(n) < 1 / (1 + np.exp(-(risk * 1.5 - 5.5)))
    officer = np.clip(0.02 + 0.05 * (risk > 1), 0, 1)   # officers look at risky rows more
    pi = 0.01 + 0.99 * officer
    inspected = rng.random(n) < pi
    rows = pd.DataFrame({
        "selection_probability": pi, "inspected": inspected.astype(float),
        "seizure": np.where(inspected, carrier.astype(float), np.nan),
        "referral": np.where(inspected, "officer", "none"),
        "firearms_seized": np.where(inspected, carrier * 3.0, np.nan),
        "rounds_seized": np.where(inspected, 0.0, np.nan),
        "currency_seized_usd": np.where(inspected, 0.0, np.nan),
    })
    return rows, risk, carrier


def test_top_k_takes_the_ceiling_of_the_budget():
    assert top_k(np.arange(1000.0), 0.005).sum() == 5
    assert top_k(np.arange(999.0), 0.01).sum() == 10
    assert top_k(np.arange(10.0), 0.2)[-2:].all()


def test_estimated_recall_matches_the_truth_despite_biased_inspections():
    rows, risk, carrier = population()
    score = risk + np.random.default_rng(1).normal(scale=0.5, size=len(risk))
    labels = Labels(rows, rows["selection_probability"].to_numpy())
    table = budget_table(score, labels, truth=pd.DataFrame({"carrier": carrier}))
    for row in table:
        lo, hi = row["recall_ci"]
        assert lo <= row["true_recall"] <= hi, row
        assert row["recall"] == pytest.approx(row["true_recall"], abs=0.08)
    # the naive estimate (inspected rows, unweighted) is biased upwards here
    naive_total = carrier[rows["inspected"] == 1].sum()
    naive = carrier[(rows["inspected"] == 1) & top_k(score, 0.05)].sum() / naive_total
    assert naive > table[-1]["true_recall"] + 0.05


def test_calibration_of_true_probabilities_is_close_to_one():
    rows, risk, carrier = population(seed=2)
    p = 1 / (1 + np.exp(-(risk * 1.5 - 5.5)))
    labels = Labels(rows, rows["selection_probability"].to_numpy())
    cal = calibration(p, labels)
    assert cal["observed_over_expected"] == pytest.approx(1.0, abs=0.15)
    assert cal["ece"] < 0.01


def test_missing_selection_probability_falls_back_to_an_estimate():
    """Without logged probabilities the fallback learns the officers' bias from the
    features (P(inspected) 0.0793 above risk 1, 0.0298 below) and the recall at every
    budget stays the one the logged probabilities give; a flat fallback (the mean
    inspection rate, 0.037 everywhere) would overstate it by 0.03 to 0.09."""
    rows, risk, carrier = population(n=50_000, seed=3)
    feats = pd.DataFrame({"risk": risk, "plate_days_since_first_seen": 1.0})
    logged = evaluate_scores(risk, rows, feats)
    rows["selection_probability"] = np.nan
    estimated = propensity(rows, feats)
    assert estimated[risk > 1].mean() == pytest.approx(0.0793, abs=0.015)
    assert estimated[risk <= 1].mean() == pytest.approx(0.0298, abs=0.005)
    report = evaluate_scores(risk, rows, feats)
    for got, want in zip(report["budgets"], logged["budgets"], strict=True):
        assert got["recall"] == pytest.approx(want["recall"], abs=0.02), got["budget"]


def test_the_hit_rate_is_a_ratio_estimate_that_stays_a_rate():
    """One inspected seizure with pi 0.01 among ten picks: Horvitz–Thompson's caught / k
    says 1000%; the ratio (Hájek) estimate says what the inspected picks found."""
    n = 1000
    rows = pd.DataFrame({"selection_probability": np.full(n, 0.5), "inspected": 0.0,
                         "seizure": np.nan, "referral": "none", "firearms_seized": np.nan,
                         "rounds_seized": np.nan, "currency_seized_usd": np.nan})
    rows.loc[0, ["selection_probability", "inspected", "seizure"]] = [0.01, 1.0, 1.0]
    rows.loc[1:40, ["inspected", "seizure"]] = [1.0, 0.0]
    score = np.zeros(n)
    score[:10] = 1.0
    table = budget_table(score, Labels(rows, rows["selection_probability"].to_numpy()),
                         budgets=(0.01,))
    row = table[0]
    assert row["estimated_seizures"] == pytest.approx(100)      # HT: 1 / 0.01
    assert row["hit_rate"] == pytest.approx(100 / (100 + 9 * 2))  # ratio over the picks
    assert 0 <= row["hit_rate_ci"][0] <= row["hit_rate_ci"][1] <= 1
    assert row["seizures_behind"] == 1 and row["unstable"]


@pytest.mark.parametrize("seed", range(5))
def test_hit_rates_and_their_intervals_are_rates_and_cover_the_truth(seed):
    rows, risk, carrier = population(n=100_000, seed=10 + seed)
    score = risk + np.random.default_rng(seed).normal(scale=0.5, size=len(risk))
    labels = Labels(rows, rows["selection_probability"].to_numpy())
    for row in budget_table(score, labels, truth=pd.DataFrame({"carrier": carrier}),
                            budgets=(0.005, 0.01, 0.02, 0.05, 0.2)):
        lo, hi = row["hit_rate_ci"]
        assert 0 <= lo <= row["hit_rate"] <= hi <= 1, row
        assert row["unstable"] == (row["seizures_behind"] < 30)
        if not row["unstable"]:
            assert lo - 0.02 <= row["true_hit_rate"] <= hi + 0.02, row


def test_the_propensity_check_recovers_logged_probabilities_and_is_calibrated():
    """Half the rows lose their logged probability: the estimate, fitted on the features the
    policy chose on, is calibrated on them and close to the logged values elsewhere."""
    from training.evaluate import propensity_check
    rng = np.random.default_rng(5)
    n = 40_000
    x = rng.normal(size=n)
    pi = 1 / (1 + np.exp(-(-3.5 + 1.2 * x)))
    inspected = rng.random(n) < pi
    logged = np.where(rng.random(n) < 0.5, np.nan, pi)
    outbound = pd.DataFrame({"selection_probability": logged,
                             "inspected": inspected.astype(float)})
    check = propensity_check(outbound, pd.DataFrame({"x": x}))
    assert check["estimated_rows"] == int(np.isnan(logged).sum())
    assert 0.9 < check["observed_over_expected"] < 1.1
    top = check["bins"][-1]
    assert abs(top["inspected"] - top["mean_estimated"]) < 0.3 * top["mean_estimated"]
    assert 0.8 < check["logged"]["median_ratio"] < 1.25
    assert check["logged"]["within_factor_2"] > 0.8
    # nothing missing: nothing to check
    full = outbound.assign(selection_probability=pi)
    assert propensity_check(full, pd.DataFrame({"x": x})) is None
