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
                                                                           trained, tmp_path):
    from models.registry import Registry
    from southbound.cli import main
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
