"""The ``convoy_partners`` statistic in-process: a port's near pairs, a chunk at a time.

The frame pass (:mod:`scoring.features.history_numpy`) calls :func:`convoy_partners` for
the ``partners`` aggregate; the store counts the same partners in one SQL subquery
(:mod:`scoring.features.history_sql`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _near_pairs(times, x_lo, x_hi):
    """Pairs (query, row) with ``times[row]`` in ``[x_lo, x_hi)`` (``times`` sorted)."""
    lo = np.searchsorted(times, x_lo, side="left")
    hi = np.searchsorted(times, x_hi, side="left")
    return index_spans(lo, hi - lo)


def index_spans(start, size):
    """Every index of the spans ``[start[i], start[i] + size[i])``, as pairs (i, index),
    i in order: the rows each query reads (here and in the history pass's hour shares)."""
    which = np.repeat(np.arange(len(start)), size)
    return which, np.arange(len(which)) - np.repeat(np.cumsum(size) - size - start, size)


def step_cuts(cumulative, step):
    """Where a running total (``cumulative``: non-empty, non-decreasing) passes each
    multiple of ``step``: the cuts of work done about ``step`` at a time."""
    return np.searchsorted(cumulative, np.arange(1, cumulative[-1] // step + 1) * step)


def _span_by_key(keys, times, latest):
    """The distinct ``keys``, sorted, each one's span: its smallest ``times`` (a pair's
    first visible) and its largest ``latest`` (its latest start)."""
    order = np.argsort(keys)
    keys, times, latest = keys[order], times[order], latest[order]
    if not len(keys):
        return keys, times, latest
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return (keys[starts], np.minimum.reduceat(times, starts),
            np.maximum.reduceat(latest, starts))


def _merge_latest(held, held_latest, new, new_latest):
    """The sorted union of two sorted unique int64 key arrays, each key with the larger
    of its two ``latest`` values (``held_latest`` is changed in place)."""
    at = _lookup(held, new)
    old = at >= 0
    held_latest[at[old]] = np.maximum(held_latest[at[old]], new_latest[old])
    where = np.searchsorted(held, new[~old])
    return np.insert(held, where, new[~old]), np.insert(held_latest, where, new_latest[~old])


def _lookup(sorted_keys, keys):
    """Index of each of ``keys`` in ``sorted_keys`` (distinct, sorted), -1 where absent.

    The keys are searched in sorted order, so that the binary searches into a large
    array walk its memory in order: 4M keys in 60M held ones took 9.6 s in their own
    order and 1.0 s sorted first (the convoy pass's lookups at a busy port).
    """
    if not len(sorted_keys):
        return np.full(len(keys), -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    where = np.empty(len(keys), dtype=np.int64)
    where[order] = np.searchsorted(sorted_keys, keys[order])
    where = np.minimum(where, len(sorted_keys) - 1)
    return np.where(sorted_keys[where] == keys, where, -1)


#: near pairs of a port per step of :func:`convoy_partners` (bounds its memory at busy
#: ports: a step holds some ten int64 arrays of this length)
CONVOY_CHUNK_PAIRS = 4_000_000


def convoy_partners(window, ev_codes, ev_times, ev_ports, q_codes, q_times, q_ports,
                     chunk_pairs=None, lookback=None):
    """The ``convoy_partners`` stat: see :class:`~scoring.features.spec.HistoryFeature`.

    Per port, in time order, a chunk of about ``chunk_pairs`` near pairs at a time: the
    pairs of plates within the window of each other whose pair becomes visible (the
    later crossing + window) in the chunk, and each query's candidates (other plates at
    the port in ``[t - window, t)``); a candidate counts when its pair became visible
    strictly before ``t``, in an earlier chunk (kept as sorted pair keys, one per
    unordered pair, each with the start of its latest occurrence) or in this one. What is
    held is one chunk's candidates and the port's distinct pairs, not every near pair of
    its whole history at once (at a busy port that is the rows times the crossings within
    the window: tens of GiB at the border's volume). With a ``lookback`` a chunk spans at
    most ``lookback - 2 window``, so a pair visible before a query in its own chunk is
    within the lookback; pairs from earlier chunks count when their latest occurrence
    starts at or after ``t - lookback``, and are dropped once no later query can reach
    them: what is held is bounded by the lookback, not by the log's length.
    """
    chunk_pairs = chunk_pairs or CONVOY_CHUNK_PAIRS
    # ports by hash, not by sorting their names: a port's number only keys its rows
    port_of, port_codes = pd.factorize(np.concatenate([ev_ports, q_ports]),
                                       use_na_sentinel=False)
    ev_port, q_port = port_of[:len(ev_ports)], port_of[len(ev_ports):]
    n_plates = int(max(ev_codes.max(initial=0), q_codes.max(initial=0))) + 1
    n_ports = len(port_codes)

    def key(plate, partner, port):  # a pair's key, whichever plate is which
        low, high = np.minimum(plate, partner), np.maximum(plate, partner)
        return (low * n_plates + high) * n_ports + port

    found_query, found_keys = [], []
    for port in np.unique(q_port):
        rows = np.flatnonzero(ev_port == port)
        rows = rows[np.argsort(ev_times[rows], kind="stable")]
        times, plates = ev_times[rows], ev_codes[rows]
        at = np.flatnonzero(q_port == port)
        if not len(times):
            continue
        first = min(int(times[0]), int(q_times[at].min()))
        last = max(int(times[-1]), int(q_times[at].max())) + 1
        # cut where the rows' near pairs (each row's crossings within the window, plus
        # one for the row) add up to about chunk_pairs: a dense day is cut finer
        near = (np.searchsorted(times, times + window + 1, side="left")
                - np.searchsorted(times, times - window, side="left") + 1)
        cuts = step_cuts(np.cumsum(near), chunk_pairs)
        spans = (np.arange(first, last, lookback - 2 * window, dtype=np.int64)
                 if lookback else [first])
        edges = np.unique(np.concatenate([spans, times[cuts[cuts < len(times)]], [last]]))
        # sorted keys of the pairs visible before the chunk, and each one's latest start
        seen_before, seen_start = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for start, end in zip(edges[:-1], edges[1:]):
            # pairs visible in [start, end): both crossings in [start - 2 window, end - window)
            lo, hi = np.searchsorted(times, [start - 2 * window, end - window], side="left")
            t, p = times[lo:hi], plates[lo:hi]
            a, b = _near_pairs(t, t - window, t + window + 1)
            visible = np.maximum(t[a], t[b]) + window
            # each pair once (the window is symmetric: (a, b) comes with (b, a))
            keep = (a < b) & (p[a] != p[b]) & (visible >= start) & (visible < end)
            pair_keys, pair_times = key(p[a[keep]], p[b[keep]], port), visible[keep]
            pair_starts = np.minimum(t[a[keep]], t[b[keep]])
            # candidates of the chunk's queries: other plates at this port in [t - window, t)
            mine = at[(q_times[at] >= start) & (q_times[at] < end)]
            qa, rb = _near_pairs(times, q_times[mine] - window, q_times[mine])
            other = plates[rb] != q_codes[mine][qa]
            cand_query, cand_keys = mine[qa[other]], key(q_codes[mine][qa[other]],
                                                         plates[rb[other]], port)
            # the chunk's pairs by key, each key's first visible time: a candidate's pair
            # is visible before its query when that time is
            keys, first_visible, latest_start = _span_by_key(pair_keys, pair_times,
                                                              pair_starts)
            at_key = _lookup(keys, cand_keys)
            now = at_key >= 0
            now[now] = first_visible[at_key[now]] < q_times[cand_query][now]
            before = _lookup(seen_before, cand_keys)
            hit = before >= 0
            if lookback:
                hit[hit] = seen_start[before[hit]] >= q_times[cand_query][hit] - lookback
            hit |= now
            found_query.append(cand_query[hit])
            found_keys.append(cand_keys[hit])
            if lookback:   # no query from the next chunk on reaches these
                reach = seen_start >= end - lookback
                if not reach.all():   # one copy at a time: the old arrays go as they are replaced
                    seen_before = seen_before[reach]
                    seen_start = seen_start[reach]
            seen_before, seen_start = _merge_latest(seen_before, seen_start, keys, latest_start)
    found_query = np.concatenate(found_query) if found_query else np.zeros(0, np.int64)
    found_keys = np.concatenate(found_keys) if found_keys else np.zeros(0, np.int64)
    partners = pd.DataFrame({"q": found_query, "k": found_keys})
    partners = partners.drop_duplicates()["q"].to_numpy(np.int64)
    return np.bincount(partners, minlength=len(q_codes)).astype(float)
