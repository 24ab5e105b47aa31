"""Training on Dask: the in-process pipeline (:func:`training.fit.fit_log`), with the log
on a cluster and only what the fit needs on this machine.

:func:`~training.fit.fit_log` grows the model on the labelled rows and asks the log
for the rest; :class:`DaskLog` answers from a log on a cluster:

- **The labelled rows** (inspected, outcome known) with their features are gathered:
  the trees, the out-of-fold models and the calibration are fitted on them here, as
  in-process. The driver's memory grows with inspections, not with the log.
- **Counts, first and last times, time cuts** are exact aggregates.
- **Selection probabilities.** Where the log gives every row's, they are the log's. Where
  some are missing, the estimator of P(inspected | features) is fitted on every
  inspected row and a sample of the others, drawn by a hash of ``crossing_id`` with a
  known chance ``q`` (weight ``1/q``), at most ``PROPENSITY_SAMPLE`` rows; with ``q = 1``
  it is the in-process fit on the same rows in the same order.
- **The out-of-fold scores** of every outbound row are computed on the workers with the
  fold models; the per-port referral quantiles and the validation window's cuts come
  from :func:`order_statistics`, which finds exact order statistics in a few passes
  over the scores (no sorting of the whole, no approximate quantiles), so the
  quantiles are those of ``np.quantile`` on the whole, bit for bit.

The model is the in-process one for the same log and seed where the log gives every
selection probability; the validation figures are computed from the labelled rows and
the window's cuts (:func:`training.evaluate.evaluate_at_cuts`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scoring.features import FEATURES
from scoring.features.log_dask import persisted
from scoring.features_dask import (feature_frame_dask, log_files, read_described,
                                   slice_days)
from scoring.policy import MIN_PORT_ROWS, QUANTILE_SHARES
from training.evaluate import (BUDGETS, MIN_PROPENSITY, evaluate_at_cuts, fit_propensity,
                               numeric_features)
from training.config import TrainConfig
from training.fit import _Clock, fit_log
from training.logs import OutboundLog
from training.sources import describe_source

#: the most rows the selection-probability estimator is fitted on (inspected rows, plus a
#: weighted sample of the others up to this)
PROPENSITY_SAMPLE = 200_000
#: the bits of a value's sortable key kept at each pass of :func:`order_statistics`
KEY_SHIFTS = (52, 40, 28, 16, 0)
#: the contract columns the fit reads beside the features
LABEL_COLUMNS = ("crossing_id", "crossed_at", "port_code", "inspected", "seizure",
                 "selection_probability", "referral", "firearms_seized", "rounds_seized",
                 "currency_seized_usd")


def _sortable(values):
    """``uint64`` keys in the order of ``values`` (float64 without NaN, or int64)."""
    values = np.ascontiguousarray(values)
    top = np.uint64(1 << 63)
    if values.dtype.kind == "f":
        bits = values.astype(np.float64).view(np.uint64)
        return np.where(bits >= top, ~bits, bits | top)
    return values.astype(np.int64).view(np.uint64) ^ top


def _value(key, kind):
    """The value of a sortable key (the inverse of :func:`_sortable`)."""
    key, top = np.uint64(key), np.uint64(1 << 63)
    if kind == "f":
        bits = key ^ top if key >= top else ~key
        return np.array([bits], dtype=np.uint64).view(np.float64)[0]
    return np.array([key ^ top], dtype=np.uint64).view(np.int64)[0]


_COUNTS_META = pd.DataFrame({"cell": pd.Series([], dtype=np.int64),
                             "sub": pd.Series([], dtype=np.uint64),
                             "n": pd.Series([], dtype=np.int64)})


def _counts(part, select, cells, prev, shift):
    """Values per (cell, key >> shift) in one partition. On the first pass (``cells``
    None) a group is its own cell; after, only the values whose group and key >> prev
    name a cell of ``cells`` (a frame of g, prefix, cell) count."""
    g, v = select(part)
    key = _sortable(v)
    rows = pd.DataFrame({"g": np.asarray(g, np.int64), "sub": key >> np.uint64(shift)})
    if cells is None:
        rows = rows.rename(columns={"g": "cell"})
    else:
        rows["prefix"] = key >> np.uint64(prev)
        rows = rows.merge(cells, on=["g", "prefix"], how="inner")
    return rows.groupby(["cell", "sub"], sort=False).size().rename("n").reset_index()


def order_statistics(client, frame, select, ranks):
    """Exact order statistics of values spread over a cluster, by group.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        Best persisted: it is read once per pass (``len(KEY_SHIFTS)`` passes).
    select : callable
        ``select(partition) -> (groups, values)``: int group codes and values (float64
        without NaN, or int64) of one partition; a row may give several values.
    ranks : callable
        ``ranks({group: count}) -> {group: [rank, ...]}`` (0-based, ascending).

    Returns
    -------
    counts : dict
        ``{group: values}``.
    found : dict
        ``{(group, rank): (value, below, equal)}``: the value at that rank, how many
        values of the group are below it and how many equal it.

    Each pass counts the values of the pending cells by the next bits of their sortable
    key and keeps, for each rank, the sub-range that holds it: after the last pass the
    sub-range is one value. What comes back per pass is a count per (cell, sub-range)
    present, never the values.
    """
    kind = np.asarray(select(frame._meta)[1]).dtype.kind
    pending, counts, cells, prev = {}, {}, None, None
    for shift in KEY_SHIFTS:
        parts = frame.map_partitions(_counts, select, cells, prev, shift, meta=_COUNTS_META)
        table = client.compute(parts, sync=True).groupby(["cell", "sub"])["n"].sum()
        if cells is None:   # the first pass: every group's count, then the ranks wanted
            counts = {int(g): int(n) for g, n in table.groupby(level="cell").sum().items()}
            for g, rs in ranks(dict(counts)).items():
                for r in rs:
                    if not 0 <= r < counts.get(g, 0):
                        raise ValueError(f"rank {r} of group {g}: it has {counts.get(g, 0)} values")
                    pending[(g, r)] = {"cell": g, "rank": r, "below": 0}
        for state in pending.values():
            subs = table.loc[state["cell"]]
            cum = np.cumsum(subs.to_numpy())
            at = int(np.searchsorted(cum, state["rank"], side="right"))
            before = int(cum[at - 1]) if at else 0
            state.update(prefix=np.uint64(subs.index[at]), rank=state["rank"] - before,
                         below=state["below"] + before, equal=int(subs.iloc[at]))
        keys = sorted({(g, s["prefix"]) for (g, _), s in pending.items()})
        cell_of = {k: i for i, k in enumerate(keys)}
        for (g, _), state in pending.items():
            state["cell"] = cell_of[(g, state["prefix"])]
        cells = pd.DataFrame({"g": np.array([k[0] for k in keys], np.int64),
                              "prefix": np.array([k[1] for k in keys], np.uint64),
                              "cell": np.arange(len(keys), dtype=np.int64)})
        prev = shift
    found = {key: (_value(s["prefix"], kind), s["below"], s["equal"])
             for key, s in pending.items()}
    return counts, found


def quantile(n, q, at):
    """``np.quantile(values, q)`` of ``n`` values from its two order statistics,
    ``at(rank) -> value``: the same virtual index, the same interpolation, bit for bit."""
    virtual = (n - 1) * np.float64(q)
    below = int(np.floor(virtual))
    above = min(below + 1, n - 1)
    return np.quantile(np.array([at(below), at(above)]), virtual - below)


def quantile_ranks(n, qs):
    """The ranks :func:`quantile` reads for each ``q`` of ``n`` values."""
    out = set()
    for q in qs:
        below = int(np.floor((n - 1) * np.float64(q)))
        out.update((below, min(below + 1, n - 1)))
    return sorted(out)


def top_rank(n, budget):
    """The rank (ascending) of the lowest of the ``ceil(budget * n)`` highest values
    (:func:`training.evaluate.top_k`'s selection)."""
    return n - min(n, math.ceil(budget * n))


def cut(n, budget, value, below, equal):
    """A budget's cut, ``(threshold, share of the tied rows taken)``, from the order
    statistic at :func:`top_rank`."""
    k = min(n, math.ceil(budget * n))
    above = n - below - equal
    return (float(value), (k - above) / equal)


class DaskLog(OutboundLog):
    """The outbound rows of a log on a cluster, as :func:`training.fit.fit_log` reads them
    (:class:`~training.logs.OutboundLog`; :class:`~training.logs.InProcessLog` answers in
    memory)."""

    def __init__(self, client, rows, seed=0, engine=None):
        """``rows``: a lazy frame of the outbound rows, indexed by ``crossing_id``, with
        ``LABEL_COLUMNS`` (less the id) and the features."""
        self.client, self.seed = client, seed
        self.engine = engine or {"name": "dask"}
        self.frame = persisted(client, rows)
        frame = self.frame
        labelled = frame[(frame["inspected"] == 1) & ~frame["seizure"].isna()]
        labelled, rows, first, last, logged, inspected = client.compute(
            [labelled, frame["crossed_at"].count(), frame["crossed_at"].min(),
             frame["crossed_at"].max(), frame["selection_probability"].count(),
             (frame["inspected"] == 1).sum()], sync=True)
        self.rows, self.first, self.last = int(rows), int(first), int(last)
        self.missing, self.inspected = self.rows - int(logged), int(inspected)
        labelled = _canonical(labelled)
        self.labelled = (labelled, labelled[list(FEATURES)])
        self._estimator = None
        self._pi = None

    def time_cuts(self, shares):
        """Holdout's cuts: ``np.quantile`` of every outbound row's time, exact."""
        n = self.rows
        _, found = order_statistics(self.client, self.frame[["crossed_at"]], _times,
                                    lambda counts: {0: quantile_ranks(n, shares)})
        return np.array([quantile(n, q, lambda r: found[(0, r)][0]) for q in shares])

    def block_rows(self, cuts):
        cuts = np.asarray(cuts)
        per = self.frame["crossed_at"].map_partitions(_per_block, cuts, meta=(None, np.int64))
        per = self.client.compute(per, sync=True)
        return per.groupby(level=0).sum().reindex(range(len(cuts) + 1), fill_value=0).to_numpy()

    def labelled_propensity(self):
        if self._pi is None:
            self._pi = _propensity(self.labelled[0], self.estimator())
        return self._pi

    def estimator(self):
        """``(estimator, its columns)`` of P(inspected | features), fitted on a weighted
        sample (or ``(None, share inspected)`` when every row was, or none); None where
        the log gives every selection probability."""
        if not self.missing:
            return None
        if self._estimator is None:
            others = self.rows - self.inspected
            q = min(1.0, PROPENSITY_SAMPLE / others) if others else 1.0
            sample = self.frame.map_partitions(_sample, q, meta=self.frame._meta)
            sample = _canonical(self.client.compute(sample, sync=True))
            y = (sample["inspected"].to_numpy(float) == 1.0).astype(int)
            self.engine["propensity_sample"] = {"rows": int(len(sample)), "chance": q}
            if y.min() == y.max():
                self._estimator = (None, max(self.inspected / self.rows, MIN_PROPENSITY))
            else:
                weight = None if q == 1.0 else np.where(y == 1, 1.0, 1.0 / q)
                numeric = numeric_features(sample[list(FEATURES)])
                self._estimator = (fit_propensity(numeric, y, self.seed, weight),
                                   list(numeric.columns))
        return self._estimator

    def out_of_fold(self, oof, scored_from, validate_from):
        scores = persisted(self.client, self.frame.map_partitions(
            _oof_part, oof, scored_from, validate_from, self.estimator(), meta=_OOF_META))
        ports = self.client.compute(scores.loc[scores["scored"], "port_code"].value_counts(),
                                    sync=True).sort_index()
        codes = {str(p): i for i, p in enumerate(ports.index)}
        pooled, val, val_pi, unseen, unseen_pi = range(len(codes), len(codes) + 5)
        qs = tuple(1 - s for s in QUANTILE_SHARES)   # as quantile_table computes them

        def ranks(counts):
            out = {}
            for g, n in counts.items():
                if g <= pooled and (g == pooled or n >= MIN_PORT_ROWS):
                    out[g] = quantile_ranks(n, qs)
                elif g > pooled:
                    out[g] = sorted({top_rank(n, b) for b in BUDGETS})
            return out
        counts, found = order_statistics(self.client, scores, _Select(codes), ranks)

        def table(g):
            return {f"{s:g}": float(quantile(counts[g], 1 - s, lambda r: found[(g, r)][0]))
                    for s in QUANTILE_SHARES}

        def cuts(g):
            n = counts.get(g, 0)
            return {b: cut(n, b, *found[(g, top_rank(n, b))]) for b in BUDGETS} if n else {}
        quantiles = {"pooled": table(pooled),
                     "ports": {p: table(g) for p, g in codes.items()
                               if counts.get(g, 0) >= MIN_PORT_ROWS},
                     "rows": {str(p): int(n) for p, n in ports.items()}}
        referred = self.client.compute(scores.loc[scores["validate"], "referred"].sum(),
                                       sync=True)
        window = {"rows": counts.get(val, 0), "referred": int(referred),
                  "model": cuts(val), "legacy": cuts(val_pi),
                  "unseen": {"rows": counts.get(unseen, 0), "model": cuts(unseen),
                             "legacy": cuts(unseen_pi)}}
        rows, X = self.labelled
        times = rows["crossed_at"].to_numpy(np.int64)
        mine = times >= validate_from
        metrics = evaluate_at_cuts(oof(X.loc[mine], times[mine]), rows.loc[mine],
                                   self.labelled_propensity()[mine], window,
                                   X.loc[mine, "plate_days_since_first_seen"].isna().to_numpy(),
                                   seed=self.seed)
        self.client.cancel(scores)
        return quantiles, metrics


def _per_block(times, cuts):
    return pd.Series(np.bincount(np.searchsorted(cuts, times.to_numpy(np.int64), side="right"),
                                 minlength=len(cuts) + 1))


def _propensity(rows, estimator):
    """Selection probability of ``rows``: the log's own, else from ``estimator`` (see
    :meth:`DaskLog.estimator`; it is asked only for the rows without one), clipped as
    :func:`training.evaluate.propensity` clips."""
    pi = rows["selection_probability"].to_numpy(float).copy()
    unknown = np.isnan(pi)
    if estimator is not None and unknown.any():
        est, columns = estimator
        pi[unknown] = (columns if est is None
                       else est.predict_proba(rows.loc[unknown, columns])[:, 1])
    return np.clip(pi, MIN_PROPENSITY, 1.0)


_OOF_META = pd.DataFrame({"port_code": pd.Series([], dtype=object),
                          "p": pd.Series([], dtype=float), "pi": pd.Series([], dtype=float),
                          "scored": pd.Series([], dtype=bool),
                          "validate": pd.Series([], dtype=bool),
                          "unseen": pd.Series([], dtype=bool),
                          "referred": pd.Series([], dtype=bool)})


def _oof_part(part, oof, scored_from, validate_from, estimator):
    times = part["crossed_at"].to_numpy(np.int64)
    scored = times >= scored_from if scored_from is not None else np.ones(len(part), bool)
    p = np.full(len(part), np.nan)
    if scored.any():
        p[scored] = oof(part.loc[scored, list(FEATURES)], times[scored])
    return pd.DataFrame({
        "port_code": part["port_code"].to_numpy(object), "p": p,
        "pi": _propensity(part, estimator),
        "scored": scored, "validate": times >= validate_from,
        "unseen": part["plate_days_since_first_seen"].isna().to_numpy(),
        "referred": (part["referral"].fillna("none") != "none").to_numpy()},
        index=part.index)


class _Select:
    """The values :meth:`DaskLog.out_of_fold` orders, by group: each scored row's score
    under its port and pooled; each validation row's score and selection probability,
    and again under unseen plates."""

    def __init__(self, codes):
        self.codes = codes

    def __call__(self, part):
        n = len(self.codes)
        scored, val = part["scored"].to_numpy(bool), part["validate"].to_numpy(bool)
        unseen = val & part["unseen"].to_numpy(bool)
        p, pi = part["p"].to_numpy(float), part["pi"].to_numpy(float)
        port = np.array([self.codes.get(c, -1) for c in part["port_code"].to_numpy(object)],
                        dtype=np.int64)
        groups = [port[scored], np.full(scored.sum(), n), np.full(val.sum(), n + 1),
                  np.full(val.sum(), n + 2), np.full(unseen.sum(), n + 3),
                  np.full(unseen.sum(), n + 4)]
        values = [p[scored], p[scored], p[val], pi[val], p[unseen], pi[unseen]]
        return (np.concatenate(groups).astype(np.int64),
                np.concatenate(values).astype(np.float64))


def _times(part):
    return np.zeros(len(part), np.int64), part["crossed_at"].to_numpy(np.int64)


def _sample(part, q):
    """Every inspected row and the others with chance ``q``, by a hash of the id (the
    same rows whatever the partitioning)."""
    if q >= 1.0:
        return part
    u = pd.util.hash_array(part.index.to_numpy(object)) / 2.0 ** 64
    return part.loc[(part["inspected"] == 1).to_numpy() | (u < q)]


def _canonical(rows):
    """Rows indexed by ``crossing_id`` in the canonical order (time, then id)."""
    order = np.lexsort((rows.index.to_numpy(object).astype(str),
                        rows["crossed_at"].to_numpy(np.int64)))
    return rows.iloc[order]


def outbound_rows(log, buckets=None, until=None):
    """The lazy frame :class:`DaskLog` reads: every outbound row before ``until`` with its
    contract columns and features, by ``crossing_id``."""
    if until is not None:
        log = log[log["crossed_at"] < until]
    return feature_frame_dask(log, buckets, carry=LABEL_COLUMNS[1:])


def train_dask(source, client, config=None, progress=print, buckets=None, on_error="raise",
               on_read=None):
    """Train on a log given as a file, directory or glob (or a list), on the Dask cluster
    of ``client``; ``(model, manifest)`` as :func:`training.fit.train` gives them.

    ``on_error`` as :func:`scoring.contract.read_log`; ``on_read(sources)`` is called
    with each file's description (:func:`training.sources.describe_source`, its rejected
    rows in ``rejects``) once the log is read.
    """
    config = config or TrainConfig()
    clock = _Clock(progress)
    files = log_files(source)
    log, described = read_described(files, client, describe_source, on_error, on_read)
    rows = sum(d["rows"] for d in described)
    clock.step(f"read {rows:,} rows from {len(files)} files on the cluster")
    buckets = buckets or log.npartitions
    engine = {"name": "dask", "partitions": int(log.npartitions), "buckets": int(buckets),
              "slice_days": slice_days(),
              "workers": len(client.scheduler_info().get("workers", {}))}
    dlog = DaskLog(client, outbound_rows(log, buckets, config.until), config.seed, engine)
    clock.step(f"features for {dlog.rows:,} outbound rows; {len(dlog.labelled[0]):,} labelled "
               "rows gathered")
    return fit_log(dlog, config, clock, described, rows=_rows_before(log, config.until, client,
                                                                    rows))


def _rows_before(log, until, client, rows):
    if until is None:
        return rows
    return int(client.compute((log["crossed_at"] < until).sum(), sync=True))

