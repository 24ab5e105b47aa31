"""Figures that rest on few seizures say so, with the count; models are graded on one
window; the calibration plot does not pile its bins into one corner."""
import json

import numpy as np
import pandas as pd
import pytest

from models.registry import Registry
from southbound.cli import main
from training.grade import few_seizures_warnings as _few_seizures
from training.fit import few_seizure_warnings
from training.monitoring import FEW_SEIZURES, few_seizures_note
from training.report import _unstable
from training.report_plots import reliability_figure

WINDOWS = ("fit", "calibrate", "validate")


def test_training_warns_for_each_window_with_few_seizures(trained):
    manifest = trained[1]
    split = manifest["data"]["split"]
    few = [w for w in split if split[w]["seizures"] < FEW_SEIZURES]
    assert few, "the small world should have a window with few seizures"
    assert len(manifest["warnings"]) == len(few)
    for window, warning in zip(few, manifest["warnings"]):
        assert warning.startswith(f"the {window} window has {split[window]['seizures']} seizure")
        assert f"fewer than {FEW_SEIZURES}" in warning


@pytest.mark.parametrize("seizures,warned", [(0, True), (FEW_SEIZURES - 1, True),
                                             (FEW_SEIZURES, False)],
                         ids=["none", "one-too-few", "enough"])
def test_the_few_seizures_threshold(seizures, warned):
    counts = {w: {"seizures": seizures} for w in WINDOWS}
    assert len(few_seizure_warnings(counts)) == (3 if warned else 0)
    assert bool(few_seizures_note(seizures)) == warned
    if warned:
        assert f"rests on {seizures} seizure" in few_seizures_note(seizures)


def test_the_train_command_prints_the_warnings(runner, world, tmp_path):
    result = runner.invoke(main, ["train", "--data", str(world[0]),
                                  "--registry", str(tmp_path / "reg")])
    assert result.exit_code == 0, result.output
    manifest = Registry(tmp_path / "reg").versions()[0]
    assert manifest["warnings"]
    for warning in manifest["warnings"]:
        assert result.stderr.count(warning) == 1, result.stderr   # once, not twice
        assert f"warning: {warning}" in result.stderr
    assert not any("training weights" in w for w in manifest["warnings"])


def test_a_few_labelled_rows_far_newer_than_the_rest_are_warned_of(runner, world, tmp_path):
    """15 inspected rows 600 days after the log: the half-life counts from them, every
    older row weighs ~2^-20, and the weights are worth about 15 rows. Said, with the gap."""
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    late = log[(log["direction"] == "outbound") & (log["inspected"] == "true")].tail(15).copy()
    stamps = pd.to_datetime(late["crossed_at"], utc=True) + pd.Timedelta(days=600)
    late["crossed_at"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    late["crossing_id"] = [f"late-{i}" for i in range(len(late))]
    path = tmp_path / "gap.csv"
    pd.concat([log, late]).to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--data", str(path), "--registry",
                                  str(tmp_path / "reg")])
    assert result.exit_code == 0, result.output
    manifest = Registry(tmp_path / "reg").versions()[0]
    thin, = [w for w in manifest["warnings"] if "training weights" in w]
    assert f"warning: {thin}" in result.stderr and result.stderr.count(thin) == 1
    worth = int(thin.split("worth ")[1].split(" of")[0])
    assert worth < 0.10 * manifest["data"]["labelled"]["rows"]
    assert "30-day half-life" in thin
    gap = int(thin.split("gap of ")[1].split(" days")[0].replace(",", ""))
    assert 590 <= gap <= 600


def test_an_interval_without_width_is_flagged_unstable_with_its_count():
    assert "unstable: no spread on 6 seizures" in _unstable([1.0, 1.0], 6)
    assert _unstable([0.2, 0.7], 6) == "" and _unstable(None, 6) == ""
    report = {"seizures": 6, "inspected": 585, "budgets": [
        {"budget": 0.01, "recall_ci": [1.0, 1.0], "hit_rate_ci": [0.1, 0.4]},
        {"budget": 0.02, "recall_ci": [float("nan")] * 2, "hit_rate_ci": [0.1, 0.3]}]}
    warnings = _few_seizures(report)
    assert warnings[0].startswith("every figure of this window rests on 6 seizures")
    assert warnings[1:] == ["recall at 1.0%: interval [100.0%, 100.0%] has no width, on 6 "
                            "seizures: unstable"]
    assert _few_seizures({**report, "seizures": 40, "budgets": []}) == []


def test_the_evaluate_command_warns_of_few_seizures(runner, world, trained_early, tmp_path):
    Registry(tmp_path / "reg").save(*trained_early)
    out = tmp_path / "e.json"
    result = runner.invoke(main, ["evaluate", "--registry", str(tmp_path / "reg"), "--data",
                                  str(world[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    seizures = json.loads(out.read_text())["seizures"]
    assert seizures < FEW_SEIZURES
    assert f"warning: every figure of this window rests on {seizures} seizure" in result.stderr
    assert json.loads(out.read_text())["warnings"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, trained, world_frame):
    """A registry with the default model and one without plate features."""
    from training.fit import TrainConfig, train
    registry = Registry(tmp_path_factory.mktemp("two-models"))
    first = registry.save(*trained)
    second = registry.save(*train(world_frame, TrainConfig(exclude=("plate_country",)),
                                  progress=lambda m: None))
    return registry, first, second


def _lines(output, versions):
    return {v: next(line for line in output.splitlines() if v in line) for v in versions}


def test_models_list_grades_every_version_on_one_window(runner, two_models, world, trained):
    registry, first, second = two_models
    # the whole small world: its validation window alone has too few seizures to part them
    since = trained[1]["data"]["windows"]["start"][:10]
    result = runner.invoke(main, ["models", "list", "--registry", str(registry.root),
                                  "--data", str(world[0]), "--since", since])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.startswith(f"graded on {since}..") and "seizures" in header
    lines = _lines(result.stdout, (first, second))
    figures = {v: line.split("recall@1% ")[1].split("  excluded")[0] for v, line in lines.items()}
    assert figures[first] != figures[second]  # two different models, two different figures
    # trained with --exclude-feature plate_country: the group went off whole
    assert lines[second].endswith("excluded: plate_country,plate_jurisdiction")
    seizures = int(header.split(" seizures")[0].rsplit(" ", 1)[1])
    assert ("warning: the common window has" in result.stderr) == (seizures < FEW_SEIZURES)
    own = runner.invoke(main, ["models", "list", "--registry", str(registry.root)]).stdout
    on = trained[1]["data"]["split"]["validate"]["seizures"]
    assert f"(own validation window, {on} seizures, unstable)" in own


def test_models_list_by_default_grades_after_every_training_window(runner, two_models, world):
    registry = two_models[0]
    result = runner.invoke(main, ["models", "list", "--registry", str(registry.root),
                                  "--data", str(world[0])])
    assert result.exit_code == 2
    assert "no outbound crossings from" in result.stderr and "pass --since" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_calibration_bins_spread_over_a_log_axis():
    """Bins of equal weight from 0.05% to 20%: on a linear axis 9 of 10 sit in its first
    tenth; on the log axes no tenth of the axis holds more than 3."""
    predicted = np.geomspace(0.0005, 0.2, 10)
    bins = [{"mean_predicted": p, "observed": p * (0 if i == 0 else 1.1), "rows": 50 + i,
             "weight": 1000.0} for i, p in enumerate(predicted)]
    fig = reliability_figure(bins)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    drawn = np.column_stack([predicted, [max(b["observed"], ax.get_ylim()[0]) for b in bins]])
    x, y = ax.transAxes.inverted().transform(ax.transData.transform(drawn)).T
    on_plot = (x > -1e-9) & (x < 1 + 1e-9) & (y > -1e-9) & (y < 1 + 1e-9)
    assert on_plot.all()  # every bin drawn inside the axes
    assert np.bincount(np.minimum((x * 10).astype(int), 9)).max() <= 3
