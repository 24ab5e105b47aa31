"""The features on a real Dask cluster (two worker processes) equal the in-process ones,
bit for bit, on a log split into monthly files of both kinds; a damaged file is named."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from scoring.contract import ContractError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    # each shuffle logs at WARNING which worker began it: noise, not a warning
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def parts(world, tmp_path_factory):
    """The small world cut into three files in time order: one CSV, two Parquet."""
    raw = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    folder = tmp_path_factory.mktemp("parts")
    for i, rows in enumerate(np.array_split(np.arange(len(raw)), 3)):
        part = raw.iloc[rows]
        if i == 0:
            part.to_csv(folder / "2025-01.csv", index=False)
        else:
            part.to_parquet(folder / f"2025-0{i + 1}.parquet", index=False)
    return folder


def test_features_on_dask_equal_the_in_process_ones_bit_for_bit(client, parts, world_frame):
    from scoring.features import FEATURES, LAST_INBOUND_PORT, feature_frame
    from scoring.features_dask import compute_features
    local = feature_frame(world_frame)
    local.index = pd.Index(world_frame.loc[local.index, "crossing_id"].to_numpy(object))
    # more buckets than files, so that every key is cut across workers
    dask = compute_features(parts, client, buckets=5)
    assert list(dask.columns) == list(FEATURES) + [LAST_INBOUND_PORT]
    # in the canonical order (time, then id), every outbound crossing once
    assert sorted(dask.index) == sorted(local.index)
    times = world_frame.set_index("crossing_id")["crossed_at"].reindex(dask.index).to_numpy()
    assert (np.diff(times) >= 0).all()
    dask = dask.loc[local.index]
    for column in local.columns:
        ours, theirs = local[column], dask[column]
        if column in FEATURES and pd.api.types.is_float_dtype(ours):
            # the same float64 bits (NaN where NaN), not merely close
            assert np.array_equal(ours.to_numpy(float).view(np.int64),
                                  theirs.to_numpy(float).view(np.int64)), column
        else:
            assert (ours.astype(object).where(ours.notna(), None).tolist()
                    == theirs.astype(object).where(theirs.notna(), None).tolist()), column
    # the history the test relies on is there: plates seen before, carriers, convoys
    assert (local["plate_out_30d"] > 0).any() and (local["carrier_out_30d"] > 0).any()
    # and plates that declared loads unusual for their carriers, whose bases come from
    # the carrier's pass: a plate's bucket holds few of its carriers' rows
    assert (local["plate_unusual_loads"] > 0).sum() > 100


def test_a_base_is_computed_by_its_own_pass_before_the_pass_that_reads_it():
    """The plate pass reads each row's carrier value share: the carrier pass is built
    first, and the plate pass's rows carry the base's column; two passes reading each
    other's bases are refused."""
    from graphlib import CycleError

    from scoring.features.history_dask import (HISTORY_COLUMNS, _bases_first,
                                               history_columns, history_keys)
    from scoring.features.spec import HistoryFeature, base_column
    keys = history_keys()
    order = [key for key, _, _ in _bases_first(keys)]
    assert sorted(order) == sorted(key for key, _, _ in keys)
    assert order.index("carrier_id") < order.index("plate_id")
    specs = {key: specs for key, specs, _ in keys}
    assert history_columns(specs["plate_id"]) == HISTORY_COLUMNS + (
        base_column("carrier_value_share"),)
    assert history_columns(specs["carrier_id"]) == HISTORY_COLUMNS
    assert {key: reach for key, _, reach in keys}["plate_id"] is None
    plate_share = next(s for s in specs["plate_id"] if s.name == "plate_value_share")
    crossed = [(key, specs[key] + (
        (HistoryFeature("carrier_odd", "carrier", "count", "outbound",
                        below=(plate_share.name, 0.25)),) if key == "carrier_id" else ()),
        reach) for key, _, reach in keys]
    with pytest.raises(CycleError):
        _bases_first(crossed)


def test_a_damaged_file_is_refused_naming_it_and_its_row(client, parts, tmp_path):
    from scoring.features_dask import compute_features, read_log_dask
    bad = tmp_path / "log"
    bad.mkdir()
    for path in parts.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    # the good files held on the cluster: once changed, a file must be read anew, not
    # taken from what the cluster holds (a task keyed by file name alone was)
    held = client.persist(read_log_dask(bad))
    assert len(held) > 0
    damaged = pd.read_parquet(bad / "2025-03.parquet")
    damaged.loc[damaged.index[41], "direction"] = "sideways"
    damaged.to_parquet(bad / "2025-03.parquet", index=False)
    with pytest.raises(ContractError) as caught:
        compute_features(bad, client)
    message = str(caught.value)
    assert "2025-03.parquet" in message and "row 42" in message and "sideways" in message
    assert "direction" in message


def test_a_log_that_is_not_there_is_named(tmp_path):
    from scoring.features_dask import log_files
    with pytest.raises(ContractError, match="no crossing log file"):
        log_files(tmp_path / "nothing-*.parquet")


def test_batch_scores_on_dask_equal_the_in_process_ones_in_time_order(client, parts, world_frame,
                                                                       trained, tmp_path):
    from scoring.batch import score_frame
    from scoring.batch_dask import score_dask
    from scoring.policy import PolicyConfig, ScoreQuantiles
    model, manifest = trained
    quantiles = ScoreQuantiles.from_manifest(manifest)
    policy = PolicyConfig(default_capacity=0.05)
    local = score_frame(model, world_frame, policy, quantiles)
    out = tmp_path / "scores"
    rows, referred = score_dask(model, parts, out, client, policy, quantiles, buckets=3)
    files = sorted(out.iterdir())
    assert len(files) > 1 and all(f.suffix == ".parquet" for f in files)
    dask = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert list(dask.columns) == list(local.columns)
    assert (rows, referred) == (len(local), int(local["refer"].sum())) and referred > 0
    # across the files in name order: time, then id
    order = world_frame.set_index("crossing_id").loc[dask["crossing_id"], "crossed_at"]
    keys = list(zip(order.to_numpy(), dask["crossing_id"]))
    assert keys == sorted(keys)
    merged = local.merge(dask, on="crossing_id", suffixes=("", "_dask"))
    assert len(merged) == len(local)
    assert np.abs(merged["risk_score"] - merged["risk_score_dask"]).max() <= 1e-12
    for column in ("risk_band", "refer", "reasons"):
        assert (merged[column] == merged[f"{column}_dask"]).all(), column
    # a result is never overwritten in part
    with pytest.raises(FileExistsError):
        score_dask(model, parts, out, client, policy, quantiles)


def test_a_failed_dask_job_leaves_no_output(client, parts, trained, tmp_path):
    from scoring.batch_dask import score_dask
    bad = tmp_path / "log"
    bad.mkdir()
    for path in parts.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "2025-04.csv").write_text("crossing_id,crossed_at\nx,not a time\n")
    with pytest.raises(ContractError):
        score_dask(trained[0], bad, tmp_path / "scores", client)
    assert list(tmp_path.iterdir()) == [bad]


def test_the_service_and_the_in_process_commands_never_import_dask(tmp_path):
    import subprocess
    import sys
    code = ("import sys; from service import create_app; import scoring.batch, "
            "scoring.features_dask, southbound.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


def test_the_score_command_on_dask_writes_the_in_process_rows_as_a_dataset(runner, parts,
                                                                           trained, tmp_path,
                                                                           client, monkeypatch):
    from models.registry import Registry
    from southbound.cli import main
    monkeypatch.setenv("SOUTHBOUND_DASK_SCHEDULER", client.scheduler.address)
    registry = Registry(tmp_path / "registry")
    version = registry.save(trained[0], dict(trained[1]))
    base = ["score", "--registry", str(registry.root), "--model", version]
    local = tmp_path / "local.csv"
    result = runner.invoke(main, [*base, "--data", str(parts), "--out", str(local)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "scores"
    result = runner.invoke(main, [*base, "--data", str(parts), "--out", str(out),
                                  "--engine", "dask"])
    assert result.exit_code == 0, result.output
    assert "Parquet dataset" in result.output
    dask = pd.read_parquet(out).set_index("crossing_id")
    expected = pd.read_csv(local, dtype={"crossing_id": str}).set_index("crossing_id")
    assert sorted(dask.index) == sorted(expected.index)
    assert (dask.loc[expected.index, "refer"] == expected["refer"]).all()
    # a CSV path, or a folder that exists, is refused before any work: exit 2, one line
    for bad in (tmp_path / "x.csv", out):
        refused = runner.invoke(main, [*base, "--data", str(parts), "--out", str(bad),
                                       "--engine", "dask"])
        assert refused.exit_code == 2 and "--out" in refused.output
        assert "Traceback" not in refused.output


def _files(folder):
    from scoring.features_dask import log_files
    return log_files(folder)


@pytest.mark.parametrize("calibration", ["crossfit", "holdout"])
def test_training_on_dask_grows_the_in_process_model(client, parts, calibration):
    """Where the log gives every selection probability: the same trees, calibration,
    referral quantiles (np.quantile of every row's out-of-fold score, bit for bit) and
    fingerprint; validation figures equal but for the order of float sums."""
    from scoring.features import FEATURES, feature_frame
    from training.fit import TrainConfig, read_logs, train
    from training.fit_dask import train_dask
    config = TrainConfig(calibration=calibration)
    frame, sources = read_logs(_files(parts))
    local_model, local = train(frame, config, progress=lambda m: None, sources=sources)
    model, manifest = train_dask(parts, client, config, progress=lambda m: None, buckets=4)
    assert manifest["training"]["engine"] == {
        "name": "dask", "partitions": 3, "buckets": 4, "workers": 2,
        "slice_days": {"plate_id": None, "carrier_id": None, "port_code": 7.0}}
    assert local["training"]["engine"] == {"name": "pandas"}
    assert manifest["data"]["fingerprint"] == local["data"]["fingerprint"] is not None
    for key in ("sources", "rows", "outbound", "windows", "split", "blocks", "labelled"):
        assert manifest["data"][key] == local["data"][key], key
    assert manifest["score_quantiles"] == local["score_quantiles"]
    assert manifest["calibration"] == local["calibration"]
    assert manifest["trees"] == local["trees"] and manifest["features"] == local["features"]
    X = feature_frame(frame)[list(FEATURES)]
    assert np.array_equal(model.predict_proba(X), local_model.predict_proba(X))
    ours, theirs = manifest["metrics"]["validation"], local["metrics"]["validation"]
    assert ours["rows"] == theirs["rows"] and ours["inspected"] == theirs["inspected"]
    for mine, other in zip(ours["budgets"] + ours["unseen_plates"]["budgets"],
                           theirs["budgets"] + theirs["unseen_plates"]["budgets"]):
        for name in ("referred", "seizures_behind"):
            assert mine[name] == other[name], name
        for name in ("recall", "hit_rate", "estimated_seizures", "lift_over_legacy"):
            assert mine[name] == pytest.approx(other[name], rel=1e-9, nan_ok=True), name
    assert ours["pr_auc"] == pytest.approx(theirs["pr_auc"], rel=1e-12)


def test_training_on_dask_samples_the_rows_for_missing_selection_probabilities(
        client, tmp_path, monkeypatch):
    """Officer picks without a logged probability: the estimator is fitted on every
    inspected row and a hashed sample of the others (known chance, weighted). The model
    differs from the in-process one only by that: on the month after training, its true
    recall, averaged over three training seeds, is within the binomial noise of the
    in-process model's. (One fit of each is not enough: on this world the in-process
    model's recall at 1% alone ranges 0.27-0.44 over six seeds, so a single pair
    differed by more than that noise after an unrelated feature was added.)"""
    from scoring.features import FEATURES, feature_frame
    from training import fit_dask
    from training.evaluate import top_k
    from training.fit import TrainConfig, canonical_order, read_logs, train
    from training.synth import WorldConfig, generate_world, write_world
    log, truth = generate_world(WorldConfig(days=60, seed=3, scale=0.004,
                                            variant="officer-cues"))
    path, truth_path = write_world(log, truth, tmp_path / "world.csv")
    frame, sources = read_logs([path])
    frame = canonical_order(frame)
    assert frame["selection_probability"].isna().any()
    until = int(np.quantile(frame["crossed_at"], 0.7))
    monkeypatch.setattr(fit_dask, "PROPENSITY_SAMPLE", 8000)
    locals_, models = [], []
    for seed in range(3):
        config = TrainConfig(until=until, seed=seed)
        locals_.append(train(frame, config, progress=lambda m: None, sources=sources)[0])
        model, manifest = fit_dask.train_dask(path, client, config, progress=lambda m: None,
                                              buckets=2)
        models.append(model)
        sample = manifest["training"]["engine"]["propensity_sample"]
        assert sample["chance"] < 0.3 and sample["rows"] < 0.25 * manifest["data"]["outbound"]
    feats = feature_frame(frame)
    later = (frame.loc[feats.index, "crossed_at"] >= until).to_numpy()
    carriers = (pd.read_csv(truth_path).set_index("crossing_id")["carrier"]
                .reindex(frame.loc[feats.index, "crossing_id"]).to_numpy(bool)[later])
    X = feats.loc[later, list(FEATURES)]
    assert carriers.sum() > 100
    for budget in (0.01, 0.02):
        ours, theirs = (np.mean([carriers[top_k(m.predict_proba(X)[:, 1], budget)].sum()
                                 / carriers.sum() for m in fitted])
                        for fitted in (models, locals_))
        noise = np.sqrt(theirs * (1 - theirs) / carriers.sum())
        assert abs(ours - theirs) <= 3 * noise, (budget, ours, theirs, noise)


def test_a_crossing_id_repeated_across_files_is_refused_naming_both(client, parts, tmp_path):
    from scoring.batch_dask import score_dask
    from training.fit_dask import train_dask
    log = tmp_path / "log"
    log.mkdir()
    for path in parts.iterdir():
        (log / path.name).write_bytes(path.read_bytes())
    again = pd.read_csv(parts / "2025-01.csv", dtype=str, keep_default_na=False).iloc[[9]]
    later = pd.read_parquet(log / "2025-03.parquet")
    pd.concat([later.iloc[:4], again, later.iloc[4:]]).to_parquet(log / "2025-03.parquet",
                                                                   index=False)
    for run in (lambda: train_dask(log, client, progress=lambda m: None),
                lambda: score_dask(None, log, tmp_path / "scores", client)):
        with pytest.raises(ContractError) as caught:
            run()
        message = str(caught.value)
        assert "repeated crossing_id" in message and again["crossing_id"].iloc[0] in message
        assert "2025-03.parquet" in message and "row 5" in message
        assert "2025-01.csv, row 11" in message
    assert not (tmp_path / "scores").exists()


def test_the_train_command_on_dask_registers_the_model(runner, parts, tmp_path, client,
                                                       monkeypatch):
    from models.registry import Registry
    from southbound.cli import main
    monkeypatch.setenv("SOUTHBOUND_DASK_SCHEDULER", client.scheduler.address)
    registry = tmp_path / "registry"
    result = runner.invoke(main, ["train", "--data", str(parts), "--registry", str(registry),
                                  "--engine", "dask"])
    assert result.exit_code == 0, result.output
    assert "registered model" in result.output
    manifest = Registry(registry).load()[1]
    assert manifest["training"]["engine"]["name"] == "dask"
    assert len(manifest["data"]["sources"]) == 3
    refused = runner.invoke(main, ["train", "--data", str(parts), "--registry", str(registry),
                                   "--engine", "dask", "--backtest", "2"])
    assert refused.exit_code == 2 and "--backtest" in refused.output
    assert "Traceback" not in refused.output


def _killer(prefix, marker, once):
    """A worker plugin that kills its worker process the moment a task whose key holds
    ``prefix`` starts: the first time only (``once``; ``marker`` records it), or always.
    A deterministic point in the job, not a timer."""
    import os

    from distributed import WorkerPlugin

    class Kill(WorkerPlugin):
        name = "kill-at-a-task"

        def transition(self, key, start, finish, **kwargs):
            if finish != "executing" or prefix not in str(key):
                return
            if once and os.path.exists(marker):
                return
            with open(marker, "a") as f:
                f.write(f"{key}\n")
            os._exit(1)
    return Kill()


@pytest.fixture
def own_cluster():
    """A cluster of its own (its workers get killed): ``(client, allowed failures)``."""
    import dask
    from distributed import Client, LocalCluster

    def start(allowed_failures):
        with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
        started.append(cluster)
        return Client(cluster)
    started = []
    yield start
    for cluster in started:
        cluster.close()


def test_a_worker_killed_mid_job_is_survived_and_the_scores_are_whole(own_cluster, parts,
                                                                       world_frame, trained,
                                                                       tmp_path):
    from scoring.batch import score_frame
    from scoring.batch_dask import score_dask
    from scoring.policy import ScoreQuantiles
    client = own_cluster(3)
    marker = tmp_path / "killed"
    client.register_plugin(_killer("_score_part", str(marker), once=True))
    model, manifest = trained
    quantiles = ScoreQuantiles.from_manifest(manifest)
    rows, _ = score_dask(model, parts, tmp_path / "scores", client, quantiles=quantiles)
    assert marker.read_text().count("_score_part") == 1   # one worker died, mid-job
    local = score_frame(model, world_frame, quantiles=quantiles)
    dask = pd.read_parquet(tmp_path / "scores").set_index("crossing_id")
    assert rows == len(local) == len(dask)
    local = local.set_index("crossing_id").loc[dask.index]
    assert np.abs(local["risk_score"] - dask["risk_score"]).max() <= 1e-12
    assert (local["refer"] == dask["refer"]).all()


def test_a_job_whose_workers_keep_dying_fails_in_one_line_leaving_nothing(own_cluster, parts,
                                                                          trained, tmp_path,
                                                                          runner, monkeypatch):
    from models.registry import Registry
    from southbound.cli import main
    client = own_cluster(0)
    marker = tmp_path / "killed"
    client.register_plugin(_killer("_score_part", str(marker), once=False))
    monkeypatch.setenv("SOUTHBOUND_DASK_SCHEDULER", client.scheduler.address)
    registry = Registry(tmp_path / "registry")
    version = registry.save(trained[0], dict(trained[1]))
    out = tmp_path / "scores"
    result = runner.invoke(main, ["score", "--registry", str(registry.root), "--model", version,
                                  "--data", str(parts), "--out", str(out), "--engine", "dask"])
    assert result.exit_code == 1, result.output
    assert "Dask workers died running task" in result.output
    assert f"nothing was written to {out}" in result.output
    assert "Traceback" not in result.output
    assert marker.exists() and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_on_error_skip_on_dask_sets_aside_the_rows_in_process_would(runner, parts, trained,
                                                                    tmp_path, client,
                                                                    monkeypatch):
    """`score` and `train` with --engine dask --on-error skip: the bad rows are written
    to var/rejects with their reasons, exactly as in-process, and the rest is used."""
    from models.registry import Registry
    from southbound.cli import main
    monkeypatch.setenv("SOUTHBOUND_DASK_SCHEDULER", client.scheduler.address)
    bad = tmp_path / "log"
    bad.mkdir()
    for path in parts.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    damaged = pd.read_parquet(bad / "2025-03.parquet")
    damaged.loc[damaged.index[41], "direction"] = "sideways"
    damaged.loc[damaged.index[77], "port_code"] = ""
    damaged.to_parquet(bad / "2025-03.parquet", index=False)
    registry = Registry(tmp_path / "registry")
    version = registry.save(trained[0], dict(trained[1]))
    base = ["score", "--registry", str(registry.root), "--model", version, "--data", str(bad),
            "--on-error", "skip"]
    rejects = {}
    for engine, out in (("pandas", tmp_path / "local.csv"), ("dask", tmp_path / "scores")):
        monkeypatch.setenv("SOUTHBOUND_VAR", str(tmp_path / f"var-{engine}"))
        result = runner.invoke(main, [*base, "--out", str(out), "--engine", engine])
        assert result.exit_code == 0, result.output
        assert "2025-03.parquet: 2 rows rejected" in result.output
        rejects[engine] = (tmp_path / f"var-{engine}" / "rejects"
                           / "2025-03.parquet.rejects.csv").read_text()
    assert rejects["dask"] == rejects["pandas"] and "sideways" in rejects["dask"]
    local = pd.read_csv(tmp_path / "local.csv", dtype={"crossing_id": str})
    assert sorted(pd.read_parquet(tmp_path / "scores")["crossing_id"]) == sorted(
        local["crossing_id"])
    assert damaged["crossing_id"].iloc[41] not in set(local["crossing_id"])
    result = runner.invoke(main, ["train", "--data", str(bad), "--registry",
                                  str(tmp_path / "trained"), "--engine", "dask",
                                  "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "2025-03.parquet: 2 rows rejected" in result.output
    sources = Registry(tmp_path / "trained").load()[1]["data"]["sources"]
    assert [s["rejected"] for s in sources] == [0, 0, 2]
