"""Closed-loop simulation: policies side by side on a generated world, from its truth.

The last ten days of the small world are simulated: each policy picks its
inspections, finds what the truth file says (with the detection chance), and the
model retrains on what it found. Deterministic per seed; the production train and
online policy do the work.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from scoring.policy import PolicyConfig
from training.backtest import truth_carriers
from training.fit import TrainConfig
from training.simulate import SimConfig, SimulationError, simulate

pytestmark = pytest.mark.slow

START = "2025-02-25"
#: one fit per training (the production train; the cross-fitted default fits six)
FAST = TrainConfig(calibration="holdout")


def _us(day):
    return int(pd.Timestamp(day, tz="UTC").value // 1000)


@pytest.fixture(scope="module")
def truth(world):
    return pd.read_csv(world[1], dtype={"crossing_id": str})


POLICIES = {"random 1%": PolicyConfig(random_share=0.01, explore_share=0.0),
            "random 5%": PolicyConfig(random_share=0.05, explore_share=0.0)}


@pytest.fixture(scope="module")
def result(world_frame, truth):
    return simulate(world_frame, truth, POLICIES, SimConfig(start_us=_us(START),
                                                            retrain_days=5, seed=4, train=FAST))


def test_each_policy_finds_only_what_it_inspects_and_the_truth_holds(result, world_frame,
                                                                     truth):
    period = (world_frame["crossed_at"] >= _us(START)) & (world_frame["direction"] == "outbound")
    carriers = int(truth_carriers(truth, world_frame.loc[period, "crossing_id"]).sum())
    for name, figures in result["policies"].items():
        total = figures["total"]
        assert total["carriers"] == carriers
        assert sum(w["carriers"] for w in figures["weeks"]) == carriers
        assert total["seizures"] <= total["carriers_caught"] <= min(total["inspected"], carriers)
        assert total["recall"] == pytest.approx(total["carriers_caught"] / carriers)
    low, high = (result["policies"][n]["total"] for n in ("random 1%", "random 5%"))
    assert high["inspected"] > low["inspected"] > 0
    assert high["carriers_caught"] >= low["carriers_caught"]  # common draws: a superset
    # detection: most carriers inspected are found, not all
    caught = sum(result["policies"][n]["total"]["carriers_caught"] for n in POLICIES)
    found = sum(result["policies"][n]["total"]["seizures"] for n in POLICIES)
    assert 0.6 * caught <= found < caught
    # the legacy policy is the log's own, as it happened
    legacy = result["legacy"]["total"]
    assert legacy["inspected"] == int((world_frame.loc[period, "inspected"] == 1).sum())
    assert legacy["seizures"] == int((world_frame.loc[period, "seizure"] == 1).sum())
    # eleven days (the world's last is partial), a retrain every five
    assert [r["day"] for r in result["policies"]["random 1%"]["retrains"]] == [
        "2025-03-02", "2025-03-07"]
    for name in POLICIES:
        model = result["policies"][name]["model_recall_last_weeks"]
        assert 0 <= model["recall"] <= 1 and model["carriers"] == carriers


def test_deterministic_per_seed_and_the_retrain_sees_the_policys_own_outcomes(
        result, world_frame, truth, monkeypatch):
    import training.simulate as sim
    seen = []
    real_train = sim.train

    def spy(frame, config=None, progress=None, sources=()):
        seen.append(frame)
        return real_train(frame, config, progress=progress)
    monkeypatch.setattr(sim, "train", spy)
    said = []
    again = simulate(world_frame, truth, {"random 1%": POLICIES["random 1%"]},
                     SimConfig(start_us=_us(START), retrain_days=5, seed=4, train=FAST),
                     progress=said.append)
    assert again["policies"]["random 1%"] == result["policies"]["random 1%"]
    # progress: a line per simulated week, with what the week found and the time so far
    weeks = [line for line in said if ": week " in line]
    assert [line.split("] ", 1)[1].split(":")[1] for line in weeks] == [
        " week 1 of 2 (2025-02-25..2025-03-03)", " week 2 of 2 (2025-03-04..2025-03-07)"]
    figures = again["policies"]["random 1%"]["weeks"]
    for line, week in zip(weeks, figures):
        assert line.startswith("[") and "s] random 1%: week" in line
        assert (f"{week['inspected']:,} inspected, {week['seizures']:,} seizure" in line)
    # the retrain's log: in the simulated days, the policy's own picks and findings only
    retrain = seen[1]
    days = retrain["crossed_at"] >= _us(START)
    outbound = retrain.loc[days & (retrain["direction"] == "outbound")]
    assert set(outbound["referral"].dropna()) <= {"none", "random", "explore", "model"}
    assert outbound["crossed_at"].max() < _us("2025-03-02")  # the first five days only
    looked = outbound["inspected"] == 1
    assert outbound.loc[~looked, "seizure"].isna().all()
    carrier = truth_carriers(truth, outbound["crossing_id"])
    assert not (outbound["seizure"].to_numpy(float) == 1)[~carrier].any()  # found = carried
    original = world_frame.set_index("crossing_id").loc[outbound["crossing_id"], "referral"]
    assert (outbound["referral"].to_numpy() != original.to_numpy()).any()  # rewritten
    other = simulate(world_frame, truth, {"random 1%": POLICIES["random 1%"]},
                     SimConfig(start_us=_us(START), retrain_days=None, seed=5, train=FAST))
    assert other["policies"]["random 1%"]["weeks"] != result["policies"]["random 1%"]["weeks"]


def test_a_refused_retrain_keeps_the_model_and_says_so(world_frame, truth, monkeypatch):
    import training.simulate as sim
    from training.fit import TrainingError
    calls = []
    real_train = sim.train

    def refusing(frame, config=None, progress=None, sources=()):
        calls.append(1)
        if len(calls) > 1:
            raise TrainingError("too few seizures to train on")
        return real_train(frame, config, progress=progress)
    monkeypatch.setattr(sim, "train", refusing)
    out = simulate(world_frame, truth, {"default": PolicyConfig()},
                   SimConfig(start_us=_us("2025-03-01"), retrain_days=3, seed=1, train=FAST))
    figures = out["policies"]["default"]
    assert figures["retrains"] and all("refused" in r for r in figures["retrains"])
    assert figures["retrains_refused"] == len(figures["retrains"])
    assert figures["total"]["inspected"] > 0  # the first model kept scoring


def test_the_command_runs_policies_side_by_side_and_refuses_bad_input(runner, world, tmp_path):
    from southbound.cli import main
    policy = tmp_path / "wide.toml"
    policy.write_text("random_share = 0.04\ndefault_capacity = 0.03\n")
    nothing = tmp_path / "nothing.toml"
    nothing.write_text("random_share = 0.0\ndefault_capacity = 0.0\nexplore_share = 0.0\n")
    out, plot = tmp_path / "sim.json", tmp_path / "sim.png"
    args = ["simulate", "--data", str(world[0]), "--truth", str(world[1]), "--start",
            "2025-03-02", "--retrain", "never", "--calibration", "holdout"]
    result = runner.invoke(main, [*args, "--policy", str(policy), "--policy", str(nothing),
                                  "--out", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "wide" in result.output and "legacy (the log's own)" in result.output
    for name in ("wide", "nothing"):   # progress on stderr, a line per simulated week
        assert f"{name}: week 1 of 1 (2025-03-02..2025-03-07)" in result.stderr
    saved = json.loads(out.read_text())
    assert list(saved["policies"]) == ["wide", "nothing"] and saved["retrain_days"] is None
    none = saved["policies"]["nothing"]["total"]
    assert none["inspected"] == none["seizures"] == none["carriers_caught"] == 0
    assert saved["policies"]["wide"]["total"]["inspected"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(main, [*args[:-3], "fortnightly"])
    assert bad.exit_code == 2 and "--retrain" in bad.output and "Traceback" not in bad.output
    late = runner.invoke(main, [*args[:5], "--start", "2026-01-01"])
    assert late.exit_code == 2 and "no outbound crossing at or after the start" in late.output


def test_a_start_outside_the_log_is_refused(world_frame, truth):
    with pytest.raises(SimulationError, match="before the start"):
        simulate(world_frame, truth, {"p": PolicyConfig()},
                 SimConfig(start_us=int(world_frame["crossed_at"].min()) - 1))
    with pytest.raises(ValueError, match="detection"):
        SimConfig(start_us=0, detection=0)
