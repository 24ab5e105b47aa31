"""Horvitz–Thompson estimates at budgets: unbiased from a biased sample of inspections."""
import numpy as np
import pandas as pd
import pytest

from training.evaluate import Labels, budget_table, calibration, evaluate_scores, top_k


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
    rows, risk, carrier = population(n=50_000, seed=3)
    rows["selection_probability"] = np.nan
    feats = pd.DataFrame({"risk": risk, "plate_days_since_first_seen": 1.0})
    report = evaluate_scores(risk, rows, feats)
    assert 0 < report["budgets"][0]["recall"] < 1
