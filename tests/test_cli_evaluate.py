"""`southbound evaluate` grades a model on rows its trees never saw, unless told otherwise."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.registry import Registry
from southbound.cli import main
from training.evaluate import NothingUnseen, graded_window

WINDOWS = {"start": "2025-01-01T00:00:00+00:00", "calibrate_from": "2025-03-01T00:00:00+00:00",
           "validate_from": "2025-03-20T00:00:00+00:00", "end": "2025-04-01T00:00:00+00:00"}


def micros(day):
    return int(pd.Timestamp(day, tz="UTC").value // 1000)


CROSSFIT = {"start": "2025-01-01T00:00:00+00:00", "validate_from": "2025-03-20T00:00:00+00:00",
            "end": "2025-04-01T00:00:00+00:00",
            "blocks_from": ["2025-01-20T00:00:00+00:00", "2025-03-20T00:00:00+00:00"]}


@pytest.mark.parametrize("windows,days,since,first,why,warns", [
    (WINDOWS, ["2025-03-25", "2025-04-10"], None, "2025-04-10", "after the model's training",
     None),
    (WINDOWS, ["2025-01-10", "2025-03-25"], None, "2025-03-25", "held-out window", None),
    (WINDOWS, ["2025-01-10", "2025-03-10", "2025-03-25"], "2025-01-05", "2025-03-10",
     "--since", "reaches into the rows the model's trees grew on"),
    (WINDOWS, ["2025-03-10", "2025-03-25"], "2025-03-05", "2025-03-10", "--since",
     "calibration window"),
    (CROSSFIT, ["2025-03-25", "2025-04-10"], None, "2025-04-10", "after the model's training",
     None),
    (CROSSFIT, ["2025-01-10", "2025-03-25", "2025-04-10"], "2025-01-05", "2025-04-10",
     "after the model's training", "reaches into the rows the model's trees grew on"),
], ids=["past-training", "held-out", "since-in-fit", "since-in-calibration",
        "crossfit-past-training", "crossfit-since-in-training"])
def test_the_default_window_and_its_warnings(windows, days, since, first, why, warns):
    times = np.array([micros(d) for d in days])
    mask, description, warning = graded_window({"data": {"windows": windows}}, times,
                                               micros(since) if since else None)
    assert times[mask].min() == micros(first)
    assert why in description
    assert (warning is None) if warns is None else (warns in warning)


@pytest.mark.parametrize("since", [None, "2025-01-05"], ids=["default", "since"])
def test_a_cross_fitted_model_is_never_graded_on_its_own_rows(since):
    """Its trees grew on every labelled row to the end of its log: no window of it is
    unseen, whatever --since asks."""
    times = np.array([micros(d) for d in ["2025-01-10", "2025-03-25", "2025-04-01"]])
    with pytest.raises(NothingUnseen, match="southbound backtest"):
        graded_window({"data": {"windows": CROSSFIT}}, times, micros(since) if since else None)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, trained):
    path = tmp_path_factory.mktemp("eval-registry")
    Registry(path).save(*trained)
    return path


@pytest.fixture(scope="module")
def holdout_registry(tmp_path_factory, world_frame):
    from training.fit import TrainConfig, train
    path = tmp_path_factory.mktemp("eval-holdout")
    model, manifest = train(world_frame, TrainConfig(calibration="holdout"),
                            progress=lambda m: None)
    Registry(path).save(model, manifest)
    return path, manifest


def test_a_cross_fitted_model_on_its_own_log_is_not_graded(runner, registry, world, tmp_path):
    """Its trees grew on every labelled row (PR-AUC 1.000, 100% [100%, 100%] before): one
    line that says so and points to backtest, exit 2, no figures."""
    out = tmp_path / "e.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry",
                                  str(registry), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and not out.exists()
    line, = result.stderr.splitlines()
    assert line.startswith(f"error: {world[0]}: model ")
    assert "trees grew on every labelled row" in line and "southbound backtest" in line


def test_a_cross_fitted_model_is_graded_on_the_rows_after_its_training_data(
        runner, world, trained_early, tmp_path):
    model, manifest = trained_early
    path = tmp_path / "reg"
    Registry(path).save(model, manifest)
    out = tmp_path / "e.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry", str(path),
                                  "--since", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reaches into the rows the model's trees grew on" in result.stderr
    report = json.loads(out.read_text())
    assert pd.Timestamp(report["window"]["from"]) > pd.Timestamp(manifest["data"]["windows"]["end"])
    assert report["pr_auc"] < 1


def test_evaluate_without_since_grades_the_held_out_window_and_says_so(
        runner, holdout_registry, world, tmp_path):
    registry, manifest = holdout_registry
    trained = (None, manifest)
    out = tmp_path / "e.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry",
                                  str(registry), "--out", str(out)])
    assert result.exit_code == 0, result.output
    validate_from = trained[1]["data"]["windows"]["validate_from"]
    assert "held-out window" in result.output
    report = json.loads(out.read_text())
    assert pd.Timestamp(report["window"]["from"]) >= pd.Timestamp(validate_from)
    assert report["window"]["warning"] is None
    for row in report["budgets"]:
        assert 0 <= row["hit_rate"] <= 1 and 0 <= row["hit_rate_ci"][1] <= 1

    # asked for the whole log: graded from the calibration window on, saying so
    out = tmp_path / "all.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry",
                                  str(registry), "--since", "2024-12-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reaches into the rows the model's trees grew on" in result.stderr
    assert "calibration window" in result.stderr
    assert pd.Timestamp(json.loads(out.read_text())["window"]["from"]) >= pd.Timestamp(
        manifest["data"]["windows"]["calibrate_from"])
