"""The pipeline against its plain candidate: the paired comparison, its verdict, its words."""
import math

import numpy as np
import pandas as pd
import pytest

from training.backtest import BacktestConfig, backtest, grade_horizon
from training.candidates import paired_horizon, plain_facts, pool, verdict
from training.config import PLAIN_HISTORY, TrainConfig, plain_candidate
from training.evaluate import VALUE_COLUMNS, Labels
from training.report_card import backtest_table
from training.wording import how_grown


def horizon(seed, n=20_000, carriers=0.01, random_share=0.10):
    """One horizon of outbound rows: who carried, and a uniform random share inspected
    (``pi`` known), plus the legacy policy's certain picks among the rest."""
    rng = np.random.default_rng(seed)
    carrier = rng.random(n) < carriers
    pi = np.full(n, random_share)
    legacy = rng.random(n) < 0.01
    pi[legacy] = 1.0
    inspected = legacy | (rng.random(n) < random_share)
    frame = pd.DataFrame({"inspected": inspected.astype(float),
                          "seizure": np.where(inspected, carrier.astype(float), np.nan),
                          "referral": np.where(inspected, "random", "none")})
    for column in VALUE_COLUMNS:
        frame[column] = 0.0
    return frame, pi, carrier, rng


def one_origin(first, second, frame, pi, carrier, budgets=(0.01, 0.02)):
    """:func:`paired_horizon` and :func:`pool` over one origin (``first`` the pipeline)."""
    rows, reps = paired_horizon(first, second, Labels(frame, pi), pi, budgets, seed=0,
                                carriers=carrier)
    return rows, pool([{"origin": "2025-01-01", "budgets": rows}], [reps], budgets)


def test_a_candidate_that_scores_with_the_truth_comes_out_better_with_its_interval_above_0():
    frame, pi, carrier, rng = horizon(1)
    truth = carrier + 0.1 * rng.random(len(carrier))     # every carrier first
    noise = rng.random(len(carrier))                     # a list at random
    rows, pooled = one_origin(truth, noise, frame, pi, carrier)
    for row in pooled:
        lo, hi = row["difference_ci"]
        assert row["verdict"] == "better" and 0 < lo <= row["difference"] <= hi
        assert row["true_difference"] > 0.5
    # the other way round it is worse, with the same size
    _, reversed_ = one_origin(noise, truth, frame, pi, carrier)
    assert [r["verdict"] for r in reversed_] == ["worse", "worse"]
    assert reversed_[0]["difference"] == pytest.approx(-pooled[0]["difference"])


def test_two_identical_candidates_differ_by_0_and_cannot_tell():
    frame, pi, carrier, rng = horizon(2)
    scores = rng.random(len(carrier))
    rows, pooled = one_origin(scores, scores.copy(), frame, pi, carrier)
    for row in rows + pooled:
        assert row["difference"] == 0.0 and row["difference_ci"] == [0.0, 0.0]
        assert row["dr_difference"] == 0.0
    assert [r["verdict"] for r in pooled] == ["cannot tell", "cannot tell"]
    assert rows[0]["differ"] == 0 and rows[0]["pipeline"]["recall"] == rows[0]["plain"]["recall"]


def test_each_candidates_recall_is_the_horvitz_thompson_estimate_the_backtest_grades():
    frame, pi, carrier, rng = horizon(3)
    first, second = rng.random(len(carrier)), rng.random(len(carrier))
    rows, _ = one_origin(first, second, frame, pi, carrier)
    for scores, name in ((first, "pipeline"), (second, "plain")):
        graded = grade_horizon(scores, frame, carriers=carrier, budgets=(0.01, 0.02), pi=pi)
        for row, g in zip(rows, graded):
            assert row[name]["recall"] == pytest.approx(g["recall"])
            assert row[name]["true_recall"] == pytest.approx(g["true_recall"])


def test_pooling_takes_the_mean_difference_and_leaves_out_a_horizon_without_seizures():
    budgets = (0.01,)
    per_origin, replicates = [], []
    for seed in (4, 5):
        frame, pi, carrier, rng = horizon(seed)
        rows, reps = paired_horizon(carrier + 0.1 * rng.random(len(carrier)),
                                    rng.random(len(carrier)), Labels(frame, pi), pi, budgets)
        per_origin.append({"budgets": rows})
        replicates.append(reps)
    frame, pi, carrier, rng = horizon(6, carriers=0.0)    # nothing to find
    rows, reps = paired_horizon(rng.random(len(carrier)), rng.random(len(carrier)),
                                Labels(frame, pi), pi, budgets)
    assert math.isnan(rows[0]["difference"])
    pooled = pool(per_origin + [{"budgets": rows}], replicates + [reps], budgets)[0]
    assert pooled["origins"] == 2
    assert pooled["difference"] == pytest.approx(
        np.mean([o["budgets"][0]["difference"] for o in per_origin]))
    nothing = pool([{"budgets": rows}], [reps], budgets)[0]
    assert nothing["origins"] == 0 and nothing["verdict"] == "cannot tell"


@pytest.mark.parametrize("difference, interval, expected", [
    (0.03, [0.001, 0.05], "better"), (-0.03, [-0.05, -0.001], "worse"),
    (0.03, [0.0, 0.05], "cannot tell"), (0.03, [-0.01, 0.05], "cannot tell"),
    (math.nan, [math.nan, math.nan], "cannot tell")],
    ids=["above-0", "below-0", "touches-0", "holds-0", "no-estimate"])
def test_the_verdict_is_better_or_worse_only_where_the_interval_leaves_out_0(
        difference, interval, expected):
    assert verdict(difference, interval) == expected


def test_the_plain_candidate_is_the_same_pipeline_on_context_and_plate_counts_unweighted():
    from scoring.features import CONTEXT, FEATURES
    config = TrainConfig(seed=4, calibration="holdout", until=123)
    plain = plain_candidate(config)
    kept = [f for f in FEATURES if f not in plain.exclude]
    assert set(kept) == ({n for n, _, _ in CONTEXT} | set(PLAIN_HISTORY)) - set(config.exclude)
    assert (plain.weighting, plain.half_life_days, plain.increasing) == ("none", None, ())
    assert (plain.seed, plain.calibration, plain.until) == (4, "holdout", 123)


@pytest.fixture(scope="module")
def with_plain(world_frame):
    config = TrainConfig()
    return backtest(world_frame, None, BacktestConfig(origins=1, horizon_days=10), config,
                    progress=lambda m: None, plain=plain_candidate(config))


def test_the_backtest_grades_the_plain_candidate_at_the_same_origins(with_plain):
    assert [o["origin"] for o in with_plain["plain"]["origins"]] == \
        [o["origin"] for o in with_plain["origins"]]
    for pipeline, paired in zip(with_plain["origins"][0]["budgets"],
                                with_plain["plain"]["origins"][0]["budgets"]):
        assert paired["pipeline"]["recall"] == pytest.approx(pipeline["recall"])
    summary = with_plain["plain"]["summary"]
    assert [s["budget"] for s in summary] == [0.01, 0.02]
    assert all(s["verdict"] in ("better", "worse", "cannot tell") for s in summary)


def test_the_card_says_the_comparison_and_a_manifest_without_it_still_renders(
        trained, with_plain):
    _, manifest = trained
    kept = {**manifest, "backtest": with_plain}
    said = dict(reversed(how_grown(kept)))       # the first budget's line
    text = said["against its plain candidate on this log"]
    s = with_plain["plain"]["summary"][0]
    assert text.startswith(f"{100 * s['difference']:+.1f} points at 1% (95% interval ")
    assert text.split(": ")[-1].split(" (")[0] == s["verdict"]
    html = backtest_table(with_plain)
    assert "Against its plain candidate on this log" in html and s["verdict"] in html
    # older manifests: a backtest kept without the comparison, or no backtest at all
    older = {k: v for k, v in with_plain.items() if k != "plain"}
    assert "Against its plain candidate" not in backtest_table(older)
    assert dict(how_grown({**manifest, "backtest": older}))[
        "against its plain candidate on this log"].startswith("not measured")
    assert dict(how_grown(manifest))["against its plain candidate on this log"].startswith(
        "not measured (southbound train --backtest K")
    assert plain_facts(None) == plain_facts({})
