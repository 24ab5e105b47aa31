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
    from scoring.features_dask import compute_features
    bad = tmp_path / "log"
    bad.mkdir()
    for path in parts.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
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
