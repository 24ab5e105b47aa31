"""Batch scoring on Dask: a log's features (:mod:`scoring.features_dask`), then the
row-local scoring of :func:`scoring.score.score_batch` per partition, written as a
Parquet dataset.

The dataset is one file per partition (``part.N.parquet``), rows in the order of the
crossings' times, then ids, across the files in their name order; its columns are
those of ``southbound score``'s CSV. It is written to a folder beside ``out`` and
renamed into place only when every part is written: a folder at ``out`` is always
a whole result, and a failed job leaves none.
"""
from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring.features import DAY_US
from scoring.features_dask import feature_frame_dask, log_files, read_described
from scoring.score import score_batch
from scoring.settings import site

#: the columns of ``southbound score``'s output, as Parquet types
SCHEMA = {"crossing_id": pa.string(), "risk_score": pa.float64(), "risk_band": pa.string(),
          "refer": pa.bool_(), "reasons": pa.string()}


def connect(scheduler=None):
    """A Dask client: the scheduler at ``scheduler`` (or ``$SOUTHBOUND_DASK_SCHEDULER``),
    else a cluster of worker processes on this machine, one per core, that ends with
    the client. Returns ``(client, close)``."""
    from distributed import Client, LocalCluster
    # each shuffle logs at WARNING which worker began it: noise to a user, not a warning
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)
    address = scheduler or site().dask_scheduler
    if address:
        client = Client(address)
        return client, client.close
    cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)

    def close():
        client.close()
        cluster.close()
    return client, close


def _score_part(part, model, policy, quantiles):
    scored = score_batch(model, part.drop(columns="crossed_at"), policy, quantiles).frame(
        part.index.to_numpy(object))
    scored.insert(1, "crossed_at", part["crossed_at"].to_numpy(np.int64))
    text = ["crossing_id", "risk_band", "reasons"]  # typed, so that Parquet's schema is
    scored[text] = scored[text].astype(pd.StringDtype())  # known before any row is
    return scored.astype({"risk_score": float, "refer": bool})


def _day_cuts(per_day, parts):
    """Divisions at whole days splitting the rows counted ``per_day`` (day number to
    rows) into at most ``parts`` runs of about equal rows."""
    days = per_day.index.to_numpy(np.int64)
    if not len(days):
        return [0, 1]
    total = np.cumsum(per_day.to_numpy())
    edges = np.searchsorted(total, total[-1] * np.arange(1, parts) / parts, side="left") + 1
    inner = [int(days[i]) * DAY_US for i in np.unique(edges) if 0 < i < len(days)]
    return [int(days[0]) * DAY_US] + inner + [(int(days[-1]) + 1) * DAY_US]


def _in_order(part):
    part = part.reset_index(drop=True)
    order = np.lexsort((part["crossing_id"].to_numpy(str), part["crossed_at"].to_numpy(np.int64)))
    return part.iloc[order].drop(columns="crossed_at").reset_index(drop=True)


def score_dask(model, source, out, client, policy=None, quantiles=None, buckets=None,
               on_error="raise", on_read=None, describe=None):
    """Score every outbound crossing of the log at ``source`` (file, directory or glob)
    into the Parquet dataset ``out``; returns ``(rows, referred)``.

    ``on_error``, ``describe`` and ``on_read`` as
    :func:`scoring.features_dask.read_described`.

    Raises
    ------
    FileExistsError
        ``out`` exists (a result is never overwritten in part).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: give a new folder for the scores")
    files = log_files(source)
    # a crossing scored twice is refused, as in-process
    log, _ = read_described(files, client, describe, on_error, on_read)
    feats = feature_frame_dask(log, buckets, carry=("crossed_at",))
    meta = _score_part(feats._meta, model, policy, quantiles)
    scored = feats.map_partitions(_score_part, model, policy, quantiles, meta=meta)
    # rows in time order across the parts: cut at whole days chosen from exact per-day
    # counts (not sampled quantiles), then sort each part by (time, id)
    days = (log.loc[log["direction"] == "outbound", "crossed_at"] // DAY_US).value_counts()
    days = client.compute(days, sync=True)
    cuts = _day_cuts(days.sort_index(), log.npartitions)
    scored = scored.set_index("crossed_at", divisions=cuts, sorted=False, drop=False)
    scored = scored.map_partitions(_in_order, meta=meta.drop(columns="crossed_at"))
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        write = scored.to_parquet(staging, write_index=False, compute=False, schema=SCHEMA,
                                  name_function=lambda i: f"part.{i:05d}.parquet")
        counts = scored[["refer"]].map_partitions(
            lambda p: p.assign(rows=1).agg({"rows": "sum", "refer": "sum"}).to_frame().T,
            meta={"rows": int, "refer": int})
        _, totals = client.compute([write, counts], sync=True)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return int(totals["rows"].sum()), int(totals["refer"].sum())
