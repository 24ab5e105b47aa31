"""Each history statistic, written once: the raw aggregates it reads and how it finishes them.

Both executions of a :class:`~scoring.features.spec.HistoryFeature` gather the same raw
aggregates of the entity's earlier rows (those the spec's direction, window and outcome
let through): the in-process pass as arrays, one value per crossing
(:mod:`scoring.features.history_numpy`), the store as one SQL row of Python numbers
(:mod:`scoring.features.history_sql`). A statistic's ``finish`` turns them into its
value, and the same function runs on both, so the values are the same floats (the
finish of Chronon's aggregators, over the intermediate result both its backfill and
its online fetch build).

The raw aggregates (:data:`AGGREGATES`, each with its value for no rows):

- ``n``: the rows; ``first`` / ``last``: the earliest and the latest one's time (UTC µs);
- ``last_port``: the latest row's port (ties in time: the larger crossing_id);
- ``ports``: the distinct ports of the rows;
- ``near``: the rows within ``band_us`` of the crossing's time of day (``hour_share``);
- ``here``: the rows at the crossing's own port (``port_share``);
- ``valued``: the rows that declared a load value (> 0); ``alike``: those whose value is
  within one octave of the crossing's (:func:`value_octave`; NaN when the crossing
  declares none) (``value_share``);
- ``partners``: the convoy count (``convoy_partners``; the spec's docstring says which).

Adding a statistic: a ``finish`` here and a row of :data:`STATS`; both executions
then compute it, provided it reads aggregates they already gather.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US

#: each raw aggregate, and its value over no rows (what a finish sees for an unseen
#: entity; it computes with it, then keeps NaN where ``n`` says nothing was seen)
AGGREGATES = {"n": 0, "first": 0, "last": 0, "last_port": None, "ports": 0, "near": 0,
              "here": 0, "valued": 0, "alike": np.nan, "partners": 0}


def where(cond, value, other=np.nan):
    """``value`` where ``cond``, else ``other``: elementwise on arrays, plain on scalars."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, value, other)
    return value if cond else other


def as_float(value):
    """Floats of an int or bool array, or a float of one number."""
    return value.astype(float) if isinstance(value, np.ndarray) else float(value)


def at_least(value, low):
    """``max(value, low)``, elementwise on arrays."""
    return np.maximum(value, low) if isinstance(value, np.ndarray) else max(value, low)


# --- the finishes: ``finish(a, t, port)``, ``a`` the aggregates by name, ``t`` the
# crossing's UTC µs, ``port`` its port_code (arrays of the queries, or one crossing's)

def _count(a, t, port):
    return as_float(a["n"])


def _hours_since_last(a, t, port):
    return where(a["n"] > 0, (t - a["last"]) / HOUR_US)


def _days_since_first(a, t, port):
    return where(a["n"] > 0, (t - a["first"]) / DAY_US)


def _distinct_ports(a, t, port):
    return as_float(a["ports"])


def _last_other_port(a, t, port):
    return where(a["n"] > 0, as_float(a["last_port"] != port))


def _last_port(a, t, port):
    return where(a["n"] > 0, a["last_port"], None)


def _mean_gap_hours(a, t, port):
    return where(a["n"] >= 2, (a["last"] - a["first"]) / HOUR_US / at_least(a["n"] - 1, 1))


def _hour_share(a, t, port):
    return where(a["n"] > 0, a["near"] / at_least(a["n"], 1))


def _port_share(a, t, port):
    return where(a["n"] > 0, a["here"] / at_least(a["n"], 1))


def value_octave(value):
    """The octave of a declared value: ``e`` with ``value`` in ``[2**(e-1), 2**e)``
    (``math.frexp``'s exponent, exact, for an array or one number). Two values are alike
    when their octaves differ by at most one (within a factor of 2 to 4)."""
    if isinstance(value, np.ndarray):
        return np.frexp(value)[1].astype(np.int64)
    return math.frexp(value)[1]


def value_band(value):
    """The bounds ``[low, high)`` of the values alike to ``value`` (its octave and the two
    beside it), or (None, None) for no declared value: what the store's query compares
    with."""
    if value is None or not value > 0 or math.isinf(value):
        return None, None
    octave = value_octave(float(value))
    return math.ldexp(1.0, octave - 2), math.ldexp(1.0, octave + 1)


def _value_share(a, t, port):
    return where(a["valued"] > 0, a["alike"] / at_least(a["valued"], 1))


def _convoy_partners(a, t, port):
    return as_float(a["partners"])


def _last_port_name(spec):
    return "_".join(part for part in (spec.entity, "last", spec.direction, "port") if part)


@dataclass(frozen=True)
class Stat:
    """What a :class:`~scoring.features.spec.HistoryFeature` may compute, and what it needs.

    Parameters
    ----------
    reads : tuple of str
        The raw aggregates (:data:`AGGREGATES`) ``finish`` reads.
    finish : callable
        ``finish(aggregates, t, port)``: the value, on arrays or on numbers alike.
    outcome : bool
        May be restricted to rows with an outcome (a count of seizures).
    band : bool
        Needs ``band_us`` (and a window).
    window : bool
        Needs a window.
    windowed : bool
        May take a window (False: reads all history; the in-process pass counts a
        port from the entity's first crossing there, whatever the window).
    entity : str or None
        Only of this entity.
    lookback : bool
        Takes ``lookback_us``, which is then its reach instead of the window.
    at_port : bool
        Reads other entities' rows at the crossing's port: the spec is keyed by the port.
    extra : tuple of (callable, callable)
        Columns beside the value: (name of the column for a spec, its finish).
    base : bool
        May be the base of a spec's ``below``: its raw aggregates are kept on each row
        by the store, which corrects them for a late row and a purge (the one such
        statistic is ``value_share``, whose relation of two rows is symmetric).
    """

    reads: tuple
    finish: Callable
    outcome: bool = False
    band: bool = False
    window: bool = False
    windowed: bool = True
    entity: str | None = None
    lookback: bool = False
    at_port: bool = False
    extra: tuple = ()
    base: bool = False


#: every statistic by name (see :class:`~scoring.features.spec.HistoryFeature` for
#: their meanings)
STATS = {
    "count": Stat(("n",), _count, outcome=True),
    "hours_since_last": Stat(("n", "last"), _hours_since_last),
    "days_since_first": Stat(("n", "first"), _days_since_first),
    "distinct_ports": Stat(("ports",), _distinct_ports, windowed=False),
    "last_other_port": Stat(("n", "last_port"), _last_other_port,
                            extra=((_last_port_name, _last_port),)),
    "mean_gap_hours": Stat(("n", "first", "last"), _mean_gap_hours),
    "hour_share": Stat(("n", "near"), _hour_share, band=True),
    "port_share": Stat(("n", "here"), _port_share),
    "value_share": Stat(("valued", "alike"), _value_share, base=True),
    "convoy_partners": Stat(("partners",), _convoy_partners, window=True, entity="plate",
                            lookback=True, at_port=True),
}
