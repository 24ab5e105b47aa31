"""The features on Dask: the same kernels, run on a log cut by the key each spec is over.

The third execution of :mod:`scoring.features` (beside the in-process frame and the
service's store). Nothing is computed here: each part of the log runs the in-process
kernels unchanged.

- **Context** features read one row: ``context_frame`` on each partition.
- **History** features read the earlier rows that share a key with the crossing
  (:attr:`~scoring.features.HistoryFeature.key`: the plate, the carrier, or the port
  for the port's hour mix and for convoys). For each key the log's history columns
  are shuffled by a hash of the key into buckets, and ``history_frame`` runs on each
  bucket with that key's specs: every row a value reads is in the crossing's bucket,
  so the values are those of the whole log, bit for bit. Rows without a carrier skip
  the carrier pass (their carrier features are missing, as in-process).
- A key whose specs all read a bounded past (the port's: 7 days) is cut in time as
  well, by (key, week) (:func:`time_slices`): a week's crossings are computed from that
  week's rows and the reach before it, so a busy port is many tasks, not one (a port
  with a sixth of the border's traffic would otherwise be a sixth of the job on one
  worker, whatever their number). Each row is read by its own week and the next:
  twice the port pass's rows. The (key, week) groups are few and uneven (a busy
  port's week against a quiet one's), so they are spread over the buckets by their
  counted sizes (:func:`balance`), not by a hash of their names, which piles several
  large weeks into one bucket.
- A **second-order** spec (:attr:`~scoring.features.HistoryFeature.below`: the plate's
  earlier rows whose own carrier value share was low) reads, on each of its key's rows,
  a value of another key's spec, whose rows are not in its bucket: the base's pass runs
  first, and its values (NaN where it has none) are joined onto the rows the dependent
  pass reads, by ``crossing_id``, as the column ``history_frame`` reads in place of
  computing them (:func:`~scoring.features.spec.base_column`). Such a spec reads all
  history (its rows' bases do), so its pass is cut by the key alone.
- **Derived** features are arithmetic of a row's values, after the join.

The passes are joined back by ``crossing_id``. Dask is imported only here and in
:mod:`scoring.features.log_dask`, inside the functions, and only ``--engine dask``
imports this module.
"""
from __future__ import annotations

import heapq
from graphlib import TopologicalSorter

import numpy as np
import pandas as pd

from scoring.features.catalog import FEATURES, HISTORY, HISTORY_BY_NAME
from scoring.features.context import context_frame
from scoring.features.history_numpy import history_frame
from scoring.features.inputs import with_derived
from scoring.features.log_dask import empty_log, read_log_dask
from scoring.features.spec import base_column
from scoring.features.stats import DAY_US

#: the log's columns the history specs read (a pass of ``below`` specs also reads their
#: bases' values, joined on: :func:`history_columns`)
HISTORY_COLUMNS = ("crossing_id", "crossed_at", "direction", "port_code", "plate_id",
                   "carrier_id", "inspected", "seizure", "referral", "manifest_value_usd")
#: the span of time a key's pass is cut by when its specs read a bounded past: one
#: week, the port specs' reach, so that each row is read by two slices (its own and the
#: next); see benchmarks/README.md for the measured choice
SLICE_US = 7 * DAY_US


def _history_meta(specs):
    meta = {spec.name: pd.Series([], dtype=float) for spec in specs}
    meta.update((name, pd.Series([], dtype=object)) for spec in specs for name, _ in spec.extras)
    return pd.DataFrame(meta, index=pd.Index([], dtype=object, name="crossing_id"))


def _bucket_history(part, specs, query=None):
    """``history_frame`` of one bucket's ``query`` rows (default its outbound ones),
    indexed by ``crossing_id``."""
    if not len(part):
        return _history_meta(specs)
    part = part.reset_index(drop=True)
    out = history_frame(part, query, specs=specs)
    out.index = pd.Index(part["crossing_id"].to_numpy(object)[out.index.to_numpy()],
                         dtype=object, name="crossing_id")
    for name in (name for spec in specs for name, _ in spec.extras):
        out[name] = out[name].astype(object)
    return out


def bases_of(specs):
    """The names of the base specs the ``below`` specs among ``specs`` read, once each."""
    return tuple(dict.fromkeys(spec.below[0] for spec in specs if spec.below is not None))


def history_columns(specs):
    """The columns a pass of ``specs`` reads: :data:`HISTORY_COLUMNS`, then the column
    of each base its ``below`` specs read (:func:`~scoring.features.spec.base_column`)."""
    return HISTORY_COLUMNS + tuple(base_column(name) for name in bases_of(specs))


def reach_of(specs):
    """How far back the specs read, together (the largest ``reach_us``); None when one
    of them reads all history."""
    reach = [spec.reach_us for spec in specs]
    return None if None in reach else max(reach)


def time_slices(rows, reach, span=SLICE_US):
    """Each row once for every slice of time whose crossings may read it.

    Slice ``k`` holds the crossings in ``[k span, (k + 1) span)``; a value of one of them
    reads rows in ``[t - reach, t)``, so the slice reads the rows in ``[k span - reach,
    (k + 1) span)``: a row at ``s`` is in slices ``s // span`` to ``(s + reach) //
    span``. Adds ``_slice`` (int64) and ``_own`` (True in the row's own slice, whose
    value it is to compute; elsewhere it is history only).
    """
    times = rows["crossed_at"].to_numpy(np.int64)
    first = times // span
    copies = (times + reach) // span - first + 1
    take = np.repeat(np.arange(len(rows)), copies)
    offset = np.arange(len(take)) - np.repeat(np.cumsum(copies) - copies, copies)
    out = rows.iloc[take]
    return out.assign(_slice=first[take] + offset, _own=offset == 0)


def _slices_history(part, key, specs):
    """``history_frame`` of a bucket of (key, slice) groups, in one pass: the key
    column is replaced by the group's number, so that each group is an entity of its
    own, and the values are those of the rows' own slices."""
    if not len(part):
        return _history_meta(specs)
    query = (part["_own"] & (part["direction"] == "outbound")).to_numpy(bool)
    group = part.groupby([key, "_slice"], sort=False, observed=True).ngroup()
    return _bucket_history(part.assign(**{key: group.to_numpy(np.int64)}), specs, query)


def _context(part, carry=()):
    outbound = part.loc[(part["direction"] == "outbound").to_numpy()]
    out = context_frame(outbound)
    out.index = pd.Index(outbound["crossing_id"].to_numpy(object), dtype=object,
                         name="crossing_id")
    for column in carry:
        out[column] = outbound[column].to_numpy()
    return out


def history_keys():
    """The history passes: per key the specs defined over it, in ``HISTORY``'s order,
    and how far back they read together (``reach_of``; None: all history, so the pass
    is cut by the key alone, else by (key, slice of time) as well)."""
    out = []
    for key in dict.fromkeys(spec.key for spec in HISTORY):
        specs = tuple(spec for spec in HISTORY if spec.key == key)
        out.append((key, specs, reach_of(specs)))
    return out


def slice_days():
    """How each history pass is cut, for a manifest: per key, the span in days of the
    slices of time it is also cut by (None: by the key alone)."""
    return {key: None if reach is None else SLICE_US / DAY_US
            for key, _, reach in history_keys()}


def history_passes(log, buckets):
    """One lazy frame per key, in :func:`history_keys`' order: the history features of
    its specs, by ``crossing_id``. A pass whose ``below`` specs read another key's spec
    is built after that key's pass, on rows with the base's values joined on."""
    keys = history_keys()
    passes = {}
    for key, specs, reach in _bases_first(keys):
        rows = log[list(HISTORY_COLUMNS)]
        if key != "port_code":
            rows = rows[~rows[key].isna()]  # rows without the key have no such history
        for name in bases_of(specs):
            rows = _with_base(rows, passes[HISTORY_BY_NAME[name].key], name)
        rows = rows[list(history_columns(specs))]
        if reach is None:
            rows = rows.shuffle(on=key, npartitions=buckets)
            passes[key] = rows.map_partitions(_bucket_history, specs,
                                              meta=_history_meta(specs))
            continue
        rows = rows.map_partitions(time_slices, reach, meta=time_slices(rows._meta, reach))
        passes[key] = _balanced(rows, key, buckets).map_partitions(
            _slices_history, key, specs, meta=_history_meta(specs))
    return [passes[key] for key, _, _ in keys]


def _bases_first(keys):
    """``history_keys()``'s passes, each after the passes of its ``below`` specs' bases
    (a base of another entity: another key).

    Raises
    ------
    graphlib.CycleError
        When two passes read each other's bases.
    """
    needs = {key: {HISTORY_BY_NAME[name].key for name in bases_of(specs)} for key, specs, _ in keys}
    order = list(TopologicalSorter(needs).static_order())
    return sorted(keys, key=lambda p: order.index(p[0]))


def _with_base(rows, base_pass, name):
    """``rows`` with each one's value of the spec ``name`` from its pass (NaN for a row
    the pass gives none: of another direction, or without the base's key) as the column
    :func:`~scoring.features.spec.base_column` names."""
    base = base_pass[[name]].rename(columns={name: base_column(name)}).reset_index()
    # the id in the log's dtype (the pass's index is object): a join on two dtypes warns
    base = base.astype({"crossing_id": rows["crossing_id"].dtype})
    return rows.merge(base, on="crossing_id", how="left")


def _balanced(rows, key, buckets):
    """``rows`` (cut in slices of time) in ``buckets`` partitions, each (key, slice)
    group whole in one, the groups spread by their sizes (:func:`balance`) rather than
    by a hash of their names: a hash put 9 of the 20M log's 208 port-weeks, 2.7M rows,
    in one of 40 buckets, where balanced the largest holds the busiest week alone (1.1M
    rows). The sizes are counted in the same graph (a pass over the key and the time),
    which stays lazy: it runs on whichever client computes the result."""
    import dask
    sizes = rows[[key, "_slice"]].groupby([key, "_slice"], observed=True).size()
    table = dask.delayed(_bucket_table)(sizes, buckets)
    meta = rows._meta.assign(_bucket=np.zeros(0, dtype=np.int64))
    rows = rows.map_partitions(_with_bucket, table, key, meta=meta)
    # the bucket is the partition, exactly: divisions 0, 1, ..., buckets
    return rows.set_index("_bucket", divisions=list(range(buckets + 1)))


def _bucket_table(sizes, buckets):
    """(key, slice, bucket) of each group, from the groups' sizes (a Series by key and
    slice)."""
    table = sizes.rename("_rows").reset_index()
    return table.assign(_bucket=balance(table["_rows"].to_numpy(), buckets)).drop(
        columns="_rows")


def _with_bucket(part, table, key):
    return part.merge(table, on=[key, "_slice"], how="left", validate="many_to_one")


def balance(sizes, buckets):
    """A bucket for each group: the largest group first, each to the bucket holding the
    fewest rows so far (longest processing time first: the largest bucket is within
    4/3 of the best possible, and never more than the largest group plus the mean).

    >>> balance(np.array([5, 4, 3, 3, 1]), 2).tolist()
    [0, 1, 1, 0, 1]
    """
    out = np.empty(len(sizes), dtype=np.int64)
    loads = [(0, b) for b in range(buckets)]
    for g in np.argsort(-np.asarray(sizes), kind="stable"):
        load, b = heapq.heappop(loads)
        out[g] = b
        heapq.heappush(loads, (load + int(sizes[g]), b))
    return out


def feature_frame_dask(log, buckets=None, carry=()):
    """Model inputs of every outbound row of a lazy log, as :func:`feature_frame` gives them.

    Parameters
    ----------
    log : dask.dataframe.DataFrame
        Canonical crossing log (e.g. from :func:`read_log_dask`).
    buckets : int, optional
        Partitions of each shuffle, default the log's.
    carry : sequence of str
        Columns of the log to keep beside the features (labels, times), taken from the
        row's own partition with its context features: no join of their own.

    Returns
    -------
    dask.dataframe.DataFrame
        Indexed by ``crossing_id``; the columns of ``feature_frame`` (``FEATURES``,
        then ``plate_last_inbound_port``), then ``carry``'s that are not among them.
        Order of rows is not the log's: align by ``crossing_id``.
    """
    buckets = buckets or log.npartitions
    carry = tuple(c for c in carry if c not in FEATURES)
    context = log.map_partitions(_context, carry, meta=_context(empty_log(), carry))
    joined = context
    for history in history_passes(log, buckets):
        joined = joined.join(history, how="left")
    meta = _context(empty_log(), carry).join(_history_meta(HISTORY), how="left")
    return joined.map_partitions(_finish, carry, meta=_finish(meta, carry))


def _finish(part, carry=()):
    """Derived features and the column order, on one joined partition."""
    part = part.copy()
    carrier = [spec.name for spec in HISTORY if spec.key == "carrier_id"]
    part[carrier] = part[carrier].astype(float)  # rows without a carrier: missing
    out = with_derived(part)
    for column in carry:
        out[column] = part[column].to_numpy()
    return out


def compute_features(source, client, buckets=None):
    """Read a log (file, directory or glob) and compute its outbound features on the
    Dask cluster of ``client``.

    Returns a pandas frame indexed by ``crossing_id``, in the order of the crossings'
    times then ids (the canonical order).
    """
    log = read_log_dask(source)
    feats = feature_frame_dask(log, buckets)
    order = log[["crossing_id", "crossed_at", "direction"]]
    order = order[order["direction"] == "outbound"][["crossing_id", "crossed_at"]]
    feats, order = client.compute([feats, order], sync=True)
    order = order.iloc[np.lexsort((order["crossing_id"].to_numpy(str),
                                   order["crossed_at"].to_numpy(np.int64)))]
    return feats.loc[order["crossing_id"].to_numpy(object)]
