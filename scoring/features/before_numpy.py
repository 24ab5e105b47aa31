"""Which events of an entity come strictly before each query: the search the in-process
history pass (:mod:`scoring.features.history_numpy`) counts every spec with.
"""
from __future__ import annotations

import numpy as np


def count_before(ev_codes, ev_times, q_codes, q_times, q_order=None, ev_order=None,
                  count=True):
    """For each query, the events of the same entity strictly before its time.

    Returns (count, position, order): ``position`` indexes the events sorted by
    (code, time, input order), ``order``; the last earlier event is ``position - 1`` and
    the entity's first event is ``position - count``. ``q_order`` and ``ev_order``, the
    queries' and the events' order by (code, time, input order) when the caller knows
    them, only make it faster. With ``count`` False the count may be None: a caller that
    needs only differences of positions of the same queries (the events between two
    times) saves the search for each entity's first event.
    """
    keyed = count_before_keyed(ev_codes, ev_times, q_codes, q_times, q_order, ev_order,
                                count)
    if keyed is not None:
        return keyed
    n_ev = len(ev_codes)
    codes = np.concatenate([ev_codes, q_codes])
    times = np.concatenate([ev_times, q_times])
    # queries sort before events at the same (code, time): "strictly before"
    kind = np.concatenate([np.ones(n_ev, np.int8), np.zeros(len(q_codes), np.int8)])
    order = np.lexsort((kind, times, codes))
    is_event = order < n_ev
    events_before = np.cumsum(is_event) - is_event
    position = np.empty(len(q_codes), dtype=np.int64)
    position[order[~is_event] - n_ev] = events_before[~is_event]
    sorted_codes = np.sort(ev_codes, kind="stable")
    start = np.searchsorted(sorted_codes, q_codes, side="left")
    return position - start, position, order[is_event]


def count_before_keyed(ev_codes, ev_times, q_codes, q_times, q_order=None, ev_order=None,
                        count=True):
    """:func:`count_before` by one int64 key per row, (code, time): one stable sort of the
    events and two binary searches instead of a three-key sort of events and queries
    together (searching the queries in key order, ``q_order``, when given: each search
    starts where the last ended). When (code, time in µs) would not fit in 62 bits the
    time is replaced by its rank among the events' distinct times (an event is before a
    query exactly when its rank is below the count of distinct event times before the
    query), which always fits. None without events or queries."""
    if not len(ev_codes) or not len(q_codes):
        return None
    lo = min(int(ev_times.min()), int(q_times.min()))
    span = max(int(ev_times.max()), int(q_times.max())) - lo + 1
    low_code = min(int(ev_codes.min()), int(q_codes.min()))
    codes = max(int(ev_codes.max()), int(q_codes.max())) - low_code + 1
    if codes * span < 2 ** 62:
        ev_rank, q_rank = ev_times - lo, q_times - lo
    else:
        distinct = distinct_sorted(ev_times)
        span = len(distinct) + 1
        if codes * span >= 2 ** 62:
            return None
        ev_rank = np.searchsorted(distinct, ev_times)
        q_rank = np.searchsorted(distinct, q_times)   # distinct event times before it
    ev_key = (ev_codes - low_code) * span + ev_rank
    order = (np.argsort(ev_key, kind="stable")  # ties in input order, as the general way
             if ev_order is None else ev_order)
    ev_key = ev_key[order]
    q_base = (q_codes - low_code) * span
    q_key = q_base + q_rank
    if q_order is not None:
        q_base, q_key = q_base[q_order], q_key[q_order]
    # side "left": an event at the query's own time is not before it
    position = np.searchsorted(ev_key, q_key, side="left")
    count = position - np.searchsorted(ev_key, q_base, side="left") if count else None
    if q_order is not None:
        position[q_order] = position.copy()
        if count is not None:
            count[q_order] = count.copy()
    return count, position, order


def distinct_sorted(times):
    """The sorted distinct values of ``times``: one pass when they are sorted already (a
    spec's events come from the rows in time order), else :func:`numpy.unique`."""
    if len(times) and bool((times[1:] >= times[:-1]).all()):
        return times[np.flatnonzero(np.r_[True, times[1:] != times[:-1]])]
    return np.unique(times)
