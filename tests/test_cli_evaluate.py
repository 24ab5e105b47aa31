"""`southbound evaluate` grades a model on rows its trees never saw, unless told otherwise."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.registry import Registry
from southbound.cli import main
from training.evaluate import graded_window

WINDOWS = {"start": "2025-01-01T00:00:00+00:00", "calibrate_from": "2025-03-01T00:00:00+00:00",
           "validate_from": "2025-03-20T00:00:00+00:00", "end": "2025-04-01T00:00:00+00:00"}


def micros(day):
    return int(pd.Timestamp(day, tz="UTC").value // 1000)


@pytest.mark.parametrize("days,since,first,why,warns", [
    (["2025-03-25", "2025-04-10"], None, "2025-04-10", "after the model's training data", None),
    (["2025-01-10", "2025-03-25"], None, "2025-03-25", "held-out window", None),
    (["2025-01-10", "2025-03-25"], "2025-01-05", "2025-01-10", "--since", "fit window"),
    (["2025-03-10", "2025-03-25"], "2025-03-05", "2025-03-10", "--since", "calibration window"),
], ids=["past-training", "held-out", "since-in-fit", "since-in-calibration"])
def test_the_default_window_and_its_warnings(days, since, first, why, warns):
    times = np.array([micros(d) for d in days])
    mask, description, warning = graded_window({"data": {"windows": WINDOWS}}, times,
                                               micros(since) if since else None)
    assert times[mask].min() == micros(first)
    assert why in description
    assert (warning is None) if warns is None else (warns in warning)


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


def test_a_cross_fitted_model_on_its_own_log_is_graded_with_a_warning(runner, registry, world,
                                                                      trained, tmp_path):
    """Its trees grew on every labelled row: no window is unseen, and it says so."""
    out = tmp_path / "e.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry",
                                  str(registry), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the model's newest time block" in result.stdout
    assert "warning: the graded window overlaps the model's training data" in result.stderr
    report = json.loads(out.read_text())
    assert pd.Timestamp(report["window"]["from"]) >= pd.Timestamp(
        trained[1]["data"]["windows"]["validate_from"])


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

    # asked for the whole log: graded, with a warning naming the fit window
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry",
                                  str(registry), "--since", "2024-12-01"])
    assert result.exit_code == 0, result.output
    assert "warning: the graded window overlaps the model's fit window" in result.output
