"""The backtest: rolling origins, each the same training as `train`, graded after it."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from scoring.features import DAY_US, FEATURES, feature_frame
from southbound.cli import main
from training.backtest import (BacktestConfig, Prepared, backtest, grade_horizon, origins_for,
                               truth_carriers)
from training.fit import TrainConfig, TrainingError, train


def test_origins_leave_a_whole_horizon_and_step_back():
    day = DAY_US
    times = np.array([0, 100 * day - 1])     # the log's last row on day 99
    config = BacktestConfig(origins=3, horizon_days=30, step_days=10)
    assert origins_for(times, config) == [50 * day, 60 * day, 70 * day]
    assert origins_for(times, BacktestConfig(origins=2, horizon_days=20)) == [60 * day, 80 * day]


@pytest.fixture(scope="module")
def truth(world):
    return pd.read_csv(world[1], dtype={"crossing_id": str})


@pytest.fixture(scope="module")
def result(world_frame, truth):
    return backtest(world_frame, truth, BacktestConfig(origins=2, horizon_days=10),
                    TrainConfig(calibration="crossfit"), progress=lambda m: None)


def test_each_origin_is_train_on_the_rows_before_it_graded_on_the_horizon(world_frame, truth,
                                                                           result):
    """The backtest's figures are what `train --until ORIGIN` and grading the horizon give."""
    last = result["origins"][-1]
    origin = int(pd.Timestamp(last["origin"], tz="UTC").value // 1000)
    model, manifest = train(world_frame, TrainConfig(calibration="crossfit", until=origin),
                            progress=lambda m: None)
    assert manifest["data"]["labelled"] == last["train"]
    t = world_frame["crossed_at"].to_numpy()
    horizon = ((world_frame["direction"] == "outbound").to_numpy() & (t >= origin)
               & (t < origin + 10 * DAY_US))
    feats = feature_frame(world_frame, horizon)
    outbound = world_frame.loc[feats.index]
    scores = model.predict_proba(feats[list(FEATURES)])[:, 1]
    expected = grade_horizon(scores, outbound, feats,
                             truth_carriers(truth, outbound["crossing_id"]))
    assert last["budgets"] == expected


def test_labels_after_an_origin_never_reach_its_model(world_frame, truth, result):
    """Flip every outcome from the first origin on: the first origin's model, and so its
    picks, are unchanged; only the estimate graded on the flipped labels moves."""
    origin = int(pd.Timestamp(result["origins"][0]["origin"], tz="UTC").value // 1000)
    later = (world_frame["crossed_at"].to_numpy() >= origin) & (world_frame["inspected"] == 1)
    flipped = world_frame.copy()
    flipped.loc[later, "seizure"] = 1.0 - flipped.loc[later, "seizure"]
    again = backtest(flipped, truth, BacktestConfig(origins=2, horizon_days=10),
                     TrainConfig(calibration="crossfit"), progress=lambda m: None)
    first, first_again = result["origins"][0], again["origins"][0]
    assert first_again["train"] == first["train"] and first_again["trees"] == first["trees"]
    for b, b_again in zip(first["budgets"], first_again["budgets"]):
        assert b_again["true_caught"] == b["true_caught"]      # the same picks
    assert [b["recall"] for b in first_again["budgets"]] != [b["recall"] for b in first["budgets"]]


def test_every_carrier_labelled_trains_on_every_outbound_row(world_frame, truth):
    prep = Prepared(world_frame, truth)
    # a 40-day horizon: every outbound row of the world's first 20 days is a training row
    out = backtest(world_frame, truth, BacktestConfig(origins=1, horizon_days=40),
                   TrainConfig(), progress=lambda m: None, prepared=prep, labels="every-carrier")
    entry = out["origins"][0]
    origin = int(pd.Timestamp(entry["origin"], tz="UTC").value // 1000)
    before = prep.times < origin
    assert entry["train"] == {"rows": int(before.sum()),
                              "seizures": int(prep.carriers[before].sum())}
    assert out["pipeline"]["labels"] == "every-carrier"


def test_summary_is_the_mean_and_spread_over_origins(result):
    at1 = [o["budgets"][0]["true_recall"] for o in result["origins"]]
    summary = result["summary"][0]
    assert summary["budget"] == 0.01 and summary["origins"] == 2
    assert summary["true_recall"] == pytest.approx(np.mean(at1))
    assert summary["true_recall_sd"] == pytest.approx(np.std(at1, ddof=1))


def test_the_command_prints_a_table_and_writes_json(runner, world, tmp_path):
    out = tmp_path / "bt.json"
    result = runner.invoke(main, ["backtest", "--data", str(world[0]), "--truth", str(world[1]),
                                  "--origins", "2", "--horizon", "10d", "--calibration",
                                  "holdout", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["origin", "labelled", "seizures"] and "true recall" in lines[0]
    assert sum(line.startswith("mean") for line in lines) == 2    # one per budget
    data = json.loads(out.read_text())
    assert len(data["origins"]) == 2 and data["pipeline"]["calibration"] == "holdout"
    assert {"recall", "recall_ci", "true_recall"} <= set(data["origins"][0]["budgets"][0])
    # then the pipeline against its plain candidate, pooled with the verdict (the default)
    assert lines[lines.index("") + 1].startswith("against the plain candidate (")
    pooled = [line for line in lines if line.startswith("pooled")]
    assert len(pooled) == 2 and all(" true " in line for line in pooled)  # the truth beside
    for line, summary in zip(pooled, data["plain"]["summary"]):
        assert line.split("]")[1].split("  true")[0].strip() == summary["verdict"]
    assert len(data["plain"]["origins"]) == 2
    without = runner.invoke(main, ["backtest", "--data", str(world[0]), "--origins", "1",
                                   "--horizon", "10d", "--no-plain"])
    assert without.exit_code == 0 and "plain" not in without.stdout


def test_every_carrier_labelled_needs_the_truth(runner, world):
    result = runner.invoke(main, ["backtest", "--data", str(world[0]),
                                  "--every-carrier-labelled"])
    assert result.exit_code == 2 and "needs --truth" in result.output


def test_train_backtest_keeps_the_table_in_the_manifest(runner, world, tmp_path):
    registry = tmp_path / "r"
    result = runner.invoke(main, ["train", "--data", str(world[0]), "--registry", str(registry),
                                  "--backtest", "1"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(main, ["models", "show", "--registry", str(registry)])
    manifest = json.loads(shown.stdout)
    assert len(manifest["backtest"]["origins"]) == 1
    assert "budgets" in manifest["backtest"]["origins"][0]
    # in words, on stderr: which rows grew it, how it was chosen, the backtest
    said = shown.stderr
    assert "grown on: " in said and "chosen by: the pipeline's defaults" in said
    # the generated world logs every selection probability: the picks weigh, not learnt
    assert manifest["training"]["picks"] == "auto" and not manifest["training"]["picks_unlogged"]
    assert manifest["training"]["selection_streams"] is None
    assert "picks: the features alone (the log gives every inspection's selection" in said
    assert "backtest at 1%: estimated recall" in said
    # and against its plain candidate on the same log: the sentence of each budget
    pooled = manifest["backtest"]["plain"]["summary"]
    assert [row["budget"] for row in pooled] == [0.01, 0.02]
    assert said.count("against its plain candidate on this log: ") == 2
    assert "points at 1% (95% interval " in said and f"): {pooled[0]['verdict']}" in said
    page = tmp_path / "report.html"
    made = runner.invoke(main, ["report", "--registry", str(registry), "--data", str(world[0]),
                                "--out", str(page)])
    assert made.exit_code == 0, made.output
    html = page.read_text()
    assert "Backtest of this pipeline (1 origin, 30 days each)" in html
    assert "grown on" in html and "chosen by" in html
    assert "Against its plain candidate on this log" in html
    assert "against its plain candidate on this log" in html     # the card's facts


def test_origins_before_the_log_starts_are_refused_naming_both_spans():
    day = DAY_US
    times = np.array([10 * day, 40 * day - 1])   # 30 days: days 10 to 39
    assert origins_for(times, BacktestConfig(origins=1, horizon_days=29)) == [11 * day]
    with pytest.raises(TrainingError, match=r"the log spans 30 days \(1970-01-11 to "
                                            r"1970-02-09\): 1 origin with a 30-day horizon"):
        origins_for(times, BacktestConfig(origins=1, horizon_days=30))
    with pytest.raises(TrainingError, match=r"3 origins 10 days apart with a 20-day horizon "
                                            r"need more than 40 days"):
        origins_for(times, BacktestConfig(origins=3, horizon_days=20, step_days=10))


@pytest.mark.parametrize("args", [["backtest", "--origins", "3"],
                                  ["train", "--backtest", "3"]], ids=["backtest", "train"])
def test_a_log_too_short_for_the_origins_is_one_line_and_exit_2(runner, world, tmp_path, args):
    """The 60-day world cannot hold 3 origins of 30 days: one line with the log's span and
    the span needed, before any model is trained or registered."""
    registry = tmp_path / "r"
    result = runner.invoke(main, args + ["--data", str(world[0]), "--registry", str(registry)]
                           if args[0] == "train" else args + ["--data", str(world[0])])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert re.match(rf"error: {re.escape(str(world[0]))}: the log spans 6\d days "
                    r"\(2025-01-06 to 2025-03-0\d\)", lines[0]), lines[0]
    assert "3 origins 30 days apart with a 30-day horizon need more than 90 days" in lines[0]
    assert not registry.exists()
