"""History features in-process: every spec over a whole log, point in time, by sorts
and prefix counts (training, batch scoring, and each bucket of the Dask passes).

The pass gathers each spec's raw aggregates as arrays, one value per query row (the
count of earlier rows, the first and the last one, ...: see
:mod:`scoring.features.stats`), lazily, only those its statistic's finish reads; the
finish turns them into values. Specs over the same events share the events and their
prefix counts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features import convoy_numpy
from scoring.features.before_numpy import count_before
from scoring.features.catalog import HISTORY, HISTORY_BY_NAME
from scoring.features.columns import column_equals, entity_codes, objects, time_order
from scoring.features.spec import ENTITY_COLUMN, OUTCOME_LAG_US, base_column
from scoring.features.stats import DAY_US, value_octave


def history_frame(frame, query=None, specs=HISTORY):
    """History features of the query rows, seeing every row of ``frame`` as history.

    Parameters
    ----------
    frame : DataFrame
        Canonical log frame (any order; ties in time are broken by crossing_id).
    query : array of bool, shape (n,), optional
        Rows to compute features for; default the outbound rows.
    specs : sequence of HistoryFeature, optional
        The specs to execute, default all. A frame holding every row that shares a
        spec's :attr:`~HistoryFeature.key` with a query row gives that row its exact
        value (how the distributed execution cuts a log).

    Returns
    -------
    DataFrame, shape (query.sum(), len(specs) + 1)
        Indexed like ``frame.index[query]``; a column per spec (also those that are
        no model input), then the columns the specs add beside their values
        (:attr:`~scoring.features.spec.HistoryFeature.extras`: ``plate_last_inbound_port``,
        for reasons, not the model, when its ``last_other_port`` spec is among ``specs``).

    Examples
    --------
    >>> feats = history_frame(read_log("log.csv").frame)   # doctest: +SKIP
    """
    if query is None:
        query = (frame["direction"] == "outbound").to_numpy()
    query = np.asarray(query, dtype=bool)
    order = time_order(frame)
    times = frame["crossed_at"].to_numpy(np.int64)[order]
    directions = {d: column_equals(frame["direction"], d)[order]
                  for d in {h.direction for h in specs} - {None}}
    ports = objects(frame["port_code"])[order]
    # the ports as numbers, once for every spec that keys rows by port (a missing port
    # is a port of its own, as a name would be)
    port_ids = pd.factorize(ports, use_na_sentinel=False)[0]
    flags = {"inspected": frame["inspected"].to_numpy(float)[order] == 1.0,
             "seizure": frame["seizure"].to_numpy(float)[order] == 1.0,
             "referred": (frame["referral"].notna()
                          & (frame["referral"] != "none")).to_numpy()[order]}
    values = frame["manifest_value_usd"].to_numpy(float)[order]
    q_rows = np.flatnonzero(query[order])
    q_times = times[q_rows]
    q_ports = ports[q_rows]
    q_port_ids = port_ids[q_rows]
    # each row's own value of a ``below`` spec's base (in the sorted rows' order): the
    # base's own values when they are among this pass's, for exactly the rows it is
    # computed for (the default queries), else from the log's column or a pass apart
    bases = {spec.below[0] for spec in specs if spec.below is not None}
    mine_first = {name for name in bases if base_column(name) not in frame.columns
                  and any(h.name == name for h in specs)
                  and np.array_equal(query, _base_rows(frame, HISTORY_BY_NAME[name]))}
    out = {}

    def below(spec):   # the rows whose base is below the cut (NaN compares False)
        name, cut = spec.below
        if name in mine_first:
            value = np.full(len(frame), np.nan)
            value[q_rows] = out[name]
        else:
            value = _base_values(frame, name)[order]
        return value < cut
    entities = sorted(ENTITY_COLUMN.items(), key=lambda item: not any(
        h.entity == item[0] and h.name in mine_first for h in specs))
    for entity, column in entities:   # the entities whose specs are bases first
        mine = [h for h in specs if h.entity == entity]
        if not mine:
            continue
        codes, has = entity_codes(frame[column])
        codes, has = codes[order], has[order]
        q_codes, q_has = codes[q_rows], has[q_rows]
        # rows by (code, time, position), the rows being in time order: any subset of
        # them (a spec's events) is in that order when filtered from it
        by_code = np.argsort(codes, kind="stable")
        q_order = np.argsort(q_codes, kind="stable")
        events = {}   # specs that read the same events share them, and their counts
        for spec in mine:
            which = (spec.direction, spec.outcome, spec.below)
            if which not in events:
                mask = has.copy()
                if spec.direction is not None:
                    mask &= directions[spec.direction]
                if spec.outcome is not None:
                    mask &= flags[spec.outcome]
                if spec.below is not None:
                    mask &= below(spec)
                ev_idx = np.flatnonzero(mask)
                ev_times = times[ev_idx]
                if spec.outcome is not None:
                    ev_times = ev_times + OUTCOME_LAG_US
                events[which] = _Events(codes[ev_idx], ev_times, ev_idx, ports, port_ids,
                                        (np.cumsum(mask) - 1)[by_code[mask[by_code]]],
                                        q_codes, q_times, q_ports, q_port_ids, q_order,
                                        values[ev_idx], values[q_rows])
            agg = _Aggregates(events[which], spec)
            out[spec.name] = np.where(q_has, spec.statistic.finish(agg, q_times, q_ports),
                                      np.nan)
            for name, finish in spec.extras:
                out[name] = finish(agg, q_times, q_ports)
    names = [h.name for h in specs] + [name for h in specs for name, _ in h.extras]
    if not frame.index.is_unique:
        return pd.DataFrame(out, index=frame.index[order[q_rows]])[names].loc[
            frame.index[query]]
    back = np.argsort(order[q_rows])  # the query rows in the frame's order
    return pd.DataFrame({name: out[name][back] for name in names},
                        index=frame.index[order[q_rows][back]])


def _base_values(frame, name):
    """Each row's own value of the history spec ``name`` (a ``below`` spec's base), in
    the frame's order: the log's :func:`~scoring.features.spec.base_column` when a
    distributed pass joined it on, else computed here for the rows of its direction
    (NaN for the others)."""
    column = base_column(name)
    if column in frame.columns:
        return frame[column].to_numpy(float)
    spec = HISTORY_BY_NAME[name]
    rows = _base_rows(frame, spec)
    out = np.full(len(frame), np.nan)
    if not frame.index.is_unique:   # one value per row, whatever the index
        frame = frame.reset_index(drop=True)
    out[rows] = history_frame(frame, rows, (spec,))[name].to_numpy(float)
    return out


def _base_rows(frame, spec):
    """The rows a base's value is computed for: those of its direction."""
    return (np.ones(len(frame), dtype=bool) if spec.direction is None
            else column_equals(frame["direction"], spec.direction))


class _Events:
    """The rows a group of specs reads (one direction, one outcome), against the queries:
    codes, times (an outcome's: when it is known), positions in the sorted rows, ports
    (names and numbers of every row, each row's by ``idx``),
    their order by (code, time) and their declared values; and the queries'.
    :meth:`before` counts, each shift once."""

    def __init__(self, codes, times, idx, ports, port_ids, order, q_codes, q_times, q_ports,
                 q_port_ids, q_order, values, q_values):
        self.codes, self.times, self.idx, self.ports, self.order = codes, times, idx, ports, order
        self.port_ids, self.q_port_ids = port_ids, q_port_ids
        self.q_codes, self.q_times, self.q_ports, self.q_order = q_codes, q_times, q_ports, q_order
        self.values, self.q_values = values, q_values
        self.counted = {}

    def before(self, shift=0):
        """:func:`~scoring.features.before_numpy.count_before` of the queries' times less
        ``shift`` (0: at the time)."""
        if shift not in self.counted:
            self.counted[shift] = count_before(self.codes, self.times, self.q_codes,
                                                self.q_times - shift, self.q_order, self.order)
        return self.counted[shift]

    def position(self, shift):
        """Where the queries' times less ``shift`` fall among the entity's events
        (:func:`~scoring.features.before_numpy.count_before`'s position, without the count)."""
        if shift in self.counted:
            return self.counted[shift][1]
        key = ("position", shift)
        if key not in self.counted:
            self.counted[key] = count_before(self.codes, self.times, self.q_codes,
                                              self.q_times - shift, self.q_order, self.order,
                                              count=False)
        return self.counted[key][1]


class _Aggregates(dict):
    """One spec's raw aggregates (:data:`scoring.features.stats.AGGREGATES`) as arrays
    over the queries, each computed when a finish first reads it."""

    def __init__(self, events, spec):
        super().__init__()
        self.events, self.spec = events, spec

    def __missing__(self, name):
        self[name] = _FRAME[name](self.events, self.spec, self)
        return self[name]


def _n(ev, spec, a):
    if spec.window_us is not None:  # the events in [t - window, t)
        return ev.before()[1] - ev.position(spec.window_us)
    return ev.before()[0]


def _first(ev, spec, a):
    count, position, order = ev.before()
    if not len(order):  # no such event anywhere: every query is unseen
        return np.zeros(len(position), np.int64)
    return ev.times[order[np.clip(position - a["n"], 0, len(order) - 1)]]


def _at_last(ev, spec, a):
    """Where each query's latest earlier event is among the events (None: no events)."""
    count, position, order = ev.before()
    return order[np.maximum(position - 1, 0)] if len(order) else None


def _last(ev, spec, a):
    at = a["_at_last"]
    return np.zeros(len(ev.q_codes), np.int64) if at is None else ev.times[at]


def _last_port(ev, spec, a):
    at = a["_at_last"]
    return np.full(len(ev.q_codes), None, dtype=object) if at is None else ev.ports[ev.idx[at]]


def _ports(ev, spec, a):
    # a port counts from the entity's first crossing there on
    port = ev.port_ids[ev.idx]   # (entity, port): one int
    first = ~pd.Series(ev.codes * (port.max(initial=0) + 1) + port).duplicated().to_numpy()
    return count_before(ev.codes[first], ev.times[first], ev.q_codes, ev.q_times,
                         ev.q_order)[0]


def _near(ev, spec, a):
    """The rows in ``[t - window, t)`` within ``band`` of t's time of day.

    A row ``d = t - s`` earlier is near when ``d mod 1 day`` is at most ``band`` or at
    least ``1 day - band``: ``d`` lies in one of the bands ``[k days - band, k days +
    band]``, k = 0, 1, ... Each band is two prefix counts of the entity's rows, for every
    query at once (the queries shifted back in time keep their order within an entity);
    where the rows in a window are few, :func:`_near_by_pairs` looks at each instead.
    """
    window, band = spec.window_us, spec.band_us
    pairs = _near_by_pairs(ev, window, band)
    if pairs is not None:
        return pairs

    def before(shift):  # where t - shift falls among the entity's rows: only the
        # differences of two of them are read, so the entity's first row is not searched
        return count_before(ev.codes, ev.times, ev.q_codes, ev.q_times - shift,
                             ev.q_order, ev.order, count=False)[1]

    near = np.zeros(len(ev.q_codes), dtype=np.int64)
    for k in range(0, (window + band) // DAY_US + 1):
        lo, hi = max(k * DAY_US - band, 1), min(k * DAY_US + band, window)
        if lo <= hi:  # d in [lo, hi]  <=>  s in [t - hi, t - lo]
            near += before(lo - 1) - before(hi)
    return near


#: the most (query, earlier row) pairs per query :func:`_near_by_pairs` takes on: past
#: it, the bands' prefix counts (two binary searches of every query per band) are cheaper
PAIRS_PER_QUERY = 8


def _near_by_pairs(ev, window, band):
    """:func:`_near` by looking at each query's rows in the window one by one: where an
    entity's rows in a window are few (a plate's, not a port's), fewer operations than
    the bands' searches. The same integers; None when the pairs would be too many or the
    bands would overlap (a band of half a day or more). The queries are taken a run at
    a time, about :data:`NEAR_CHUNK_PAIRS` pairs each, so that what is held stays
    bounded whatever the log's length."""
    if 2 * band >= DAY_US:
        return None
    now = ev.before()[1]
    start = ev.position(window)
    counts = now - start
    if int(counts.sum()) > PAIRS_PER_QUERY * len(counts):
        return None
    if not len(counts):
        return np.zeros(0, dtype=np.int64)
    cuts = convoy_numpy.step_cuts(np.cumsum(counts), NEAR_CHUNK_PAIRS)
    near = np.zeros(len(counts), dtype=np.int64)
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(counts)]):
        # the rows in the window of query q are start[q] ... now[q] - 1 among the sorted rows
        query, at = convoy_numpy.index_spans(start[lo:hi], counts[lo:hi])
        gap = (ev.q_times[lo + query] - ev.times[ev.order[at]]) % DAY_US
        close = (gap <= band) | (gap >= DAY_US - band)
        near[lo:hi] = np.bincount(query[close], minlength=hi - lo)
    return near


#: (query, row) pairs per step of :func:`_near_by_pairs` (a step holds some six arrays of
#: this length)
NEAR_CHUNK_PAIRS = 4_000_000


def _here(ev, spec, a):
    """The rows at the query's own port (in the spec's window): prefix counts keyed by
    (entity, port)."""
    ev_port, q_port = ev.port_ids[ev.idx], ev.q_port_ids
    width = int(max(ev_port.max(initial=0), q_port.max(initial=0))) + 1
    return _windowed_count(ev, spec, ev.codes * width + ev_port, ev.times,
                           ev.q_codes * width + q_port)


def _valued(ev, spec, a):
    """The rows that declared a value (> 0), in the spec's window."""
    declared = _declared(ev.values)
    return _windowed_count(ev, spec, ev.codes[declared], ev.times[declared], ev.q_codes)


def _alike(ev, spec, a):
    """The rows that declared a value within one octave of the query's (NaN where the
    query declares none): prefix counts keyed by (entity, octave), for the query's
    octave and the two beside it, of the queries that declare a value only."""
    valued = _declared(ev.values)
    asked = np.flatnonzero(_declared(ev.q_values))
    out = np.full(len(ev.q_codes), np.nan)
    if not len(asked):
        return out
    ev_octave = value_octave(ev.values[valued])
    q_octave = value_octave(ev.q_values[asked])
    low = min(int(ev_octave.min(initial=0)), int(q_octave.min())) - 1
    width = max(int(ev_octave.max(initial=0)), int(q_octave.max())) - low + 2
    ev_key = ev.codes[valued] * width + (ev_octave - low)
    q_key = ev.q_codes[asked] * width + (q_octave - low)
    # one order of the events and one of the queries serve the three octaves: adding
    # the same step to every query's key keeps their order
    ev_order = np.argsort(ev_key, kind="stable")
    q_order = np.argsort(q_key, kind="stable")
    count = np.zeros(len(asked), dtype=np.int64)
    for step in (-1, 0, 1):
        count += _windowed_count(ev, spec, ev_key, ev.times[valued], q_key + step,
                                 ev.q_times[asked], q_order, ev_order)
    out[asked] = count
    return out


def _declared(values):
    return values > 0   # NaN compares False


def _windowed_count(ev, spec, ev_codes, ev_times, q_codes, q_times=None, q_order=None,
                    ev_order=None):
    """Events (``ev_codes``, ``ev_times``) of each query's code before it, in the spec's
    window; the queries are ``ev``'s unless ``q_times`` says whose times they are.
    ``q_order`` and ``ev_order``, when the caller knows them, are the orders by (code,
    time) :func:`~scoring.features.before_numpy.count_before` takes."""
    q_times = ev.q_times if q_times is None else q_times
    # the queries by (code, time): searched in that order, each binary search starts
    # where the last ended (several times faster than in the rows' order)
    if q_order is None:
        q_order = np.argsort(q_codes, kind="stable")
    if spec.window_us is None:
        return count_before(ev_codes, ev_times, q_codes, q_times, q_order, ev_order)[0]
    # the events in [t - window, t): a difference of positions, no count needed
    now, order = count_before(ev_codes, ev_times, q_codes, q_times, q_order, ev_order,
                               count=False)[1:]
    return now - count_before(ev_codes, ev_times, q_codes, q_times - spec.window_us,
                               q_order, order, count=False)[1]


def _partners(ev, spec, a):
    return convoy_numpy.convoy_partners(spec.window_us, ev.codes, ev.times, ev.ports[ev.idx],
                                        ev.q_codes, ev.q_times, ev.q_ports,
                                        lookback=spec.lookback_us)


#: how the pass gathers each raw aggregate: ``gather(events, spec, aggregates)``
_FRAME = {"n": _n, "first": _first, "last": _last, "last_port": _last_port, "ports": _ports,
          "near": _near, "here": _here, "valued": _valued, "alike": _alike,
          "partners": _partners, "_at_last": _at_last}
