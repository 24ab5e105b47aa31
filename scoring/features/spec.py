"""The feature spec types: a history statistic of an entity, and arithmetic of features.

A spec checks itself when declared (as Chronon's ``GroupBy`` calls
``validate_group_by``): a bad field fails at import of the catalog, naming the field and
what is allowed. The names of the columns a spec adds beside its value are derived from
the spec, never typed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from scoring.features.stats import DAY_US, HOUR_US, STATS

#: an inspection's outcome counts as known this long after the crossing
OUTCOME_LAG_US = 2 * HOUR_US
#: whose earlier rows: the column that keys them
ENTITY_COLUMN = {"plate": "plate_id", "carrier": "carrier_id", "port": "port_code"}
#: outcome flags a count may be restricted to (``referred``: the referral column is
#: neither ``none`` nor empty, whoever picked it)
OUTCOMES = ("inspected", "seizure", "referred")
DIRECTIONS = (None, "outbound", "inbound")


def base_column(base):
    """The log column that may carry each row's own value of a ``below`` spec's base,
    computed beforehand (the Dask passes join it on): the in-process pass reads it when
    present, else computes it."""
    return f"{base}@row"


def _having(flag):
    return " or ".join(name for name, stat in STATS.items() if getattr(stat, flag))


@dataclass(frozen=True)
class HistoryFeature:
    """One point-in-time statistic of an entity's earlier crossings.

    Parameters
    ----------
    name : str
    entity : {"plate", "carrier", "port"}
        Whose history: rows with the same ``plate_id``, ``carrier_id`` or ``port_code``.
    stat : str, a key of :data:`scoring.features.stats.STATS`
        ``count`` of the rows; ``hours_since_last`` / ``days_since_first`` row;
        ``distinct_ports``; ``last_other_port`` (1 when the latest row was at another
        port; beside it the port itself, ``<entity>_last_<direction>_port``);
        ``mean_gap_hours``, the mean hours between the rows, ``(last - first) / (count -
        1)``, NaN with fewer than 2; ``hour_share``, the share of the rows whose time of
        day is within ``band_us`` of this crossing's (circular, on UTC time of day), NaN
        without rows; ``convoy_partners``, the distinct other plates that crossed at this
        port in ``[t - window, t)`` and had crossed at this port within ``window`` of one
        of the plate's own earlier crossings, that earlier pair wholly in ``[t -
        lookback, t - window)`` (a convoy seen again, recently).
    direction : {"outbound", "inbound"} or None
        Which earlier rows count; None for both.
    window_us : int or None
        Only rows in ``[t - window, t)``; None for all history.
    outcome : one of :data:`OUTCOMES` or None
        Count only rows whose resolved outcome has this flag set, visible from
        ``crossed_at + OUTCOME_LAG_US`` on.
    band_us : int or None
        ``hour_share`` only: half-width of the time-of-day band.
    below : (str, float) or None
        Count only rows whose own value of another spec, the ``base`` (a history spec
        declared before this one, as if the row were the crossing scored: point in time),
        is below ``cut``; a row whose base is NaN does not count. A base is an
        all-history ``value_share`` of another entity, whose raw aggregates the store
        keeps on each row (:mod:`scoring.features.history_sql`).
    lookback_us : int or None
        ``convoy_partners`` only: how far back the earlier pair may be (both its
        crossings at or after ``t - lookback``), more than two windows; None for all
        history. It bounds what a port's pass holds, whatever the log's length.
    model_input : bool
        False for a value that only feeds a :class:`DerivedFeature`.
    help : str

    Raises
    ------
    ValueError
        At declaration, naming the bad field and what is allowed.

    Examples
    --------
    >>> HistoryFeature("plate_out_7d", "plate", "count", "outbound", 7 * DAY_US).reach_us
    604800000000
    """

    name: str
    entity: str
    stat: str
    direction: str | None = None
    window_us: int | None = None
    outcome: str | None = None
    band_us: int | None = None
    lookback_us: int | None = None
    below: tuple | None = None
    model_input: bool = True
    help: str = ""

    def __post_init__(self):
        def bad(field, allowed):
            raise ValueError(f"{self.name}: {field} {getattr(self, field)!r} is not one of "
                             f"{allowed}")

        def fail(message):
            raise ValueError(f"{self.name}: {message}")
        if self.entity not in ENTITY_COLUMN:
            bad("entity", tuple(ENTITY_COLUMN))
        if self.stat not in STATS:
            bad("stat", tuple(STATS))
        if self.direction not in DIRECTIONS:
            bad("direction", DIRECTIONS)
        if self.outcome not in (None,) + OUTCOMES:
            bad("outcome", (None,) + OUTCOMES)
        stat = STATS[self.stat]
        if self.outcome is not None and not stat.outcome:
            fail(f"an outcome restricts a {_having('outcome')}, not {self.stat!r}")
        if self.window_us is not None and not self.window_us > 0:
            fail(f"window_us {self.window_us!r} is not > 0")
        if self.window_us is not None and not stat.windowed:
            fail(f"{self.stat} reads all history: no window")
        if stat.band != (self.band_us is not None):
            fail(f"band_us is for {_having('band')}, and {_having('band')} needs it")
        if stat.band and not (self.window_us and 0 < self.band_us < DAY_US / 2):
            fail(f"{self.stat} needs a window and 0 < band_us < 12 h")
        if ((stat.entity and self.entity != stat.entity)
                or (stat.window and not self.window_us)):
            fail(f"{self.stat} is " + ", ".join(
                ([f"of a {stat.entity}"] if stat.entity else [])
                + (["within a window"] if stat.window else [])))
        if self.below is not None:
            if not (isinstance(self.below, tuple) and len(self.below) == 2
                    and isinstance(self.below[0], str) and 0 < self.below[1] <= 1):
                fail(f"below {self.below!r} is not (base spec name, cut in (0, 1])")
            if not stat.outcome or self.outcome is not None or self.window_us is not None:
                fail("below restricts an all-history count without an outcome")
        if self.lookback_us is not None and not (
                stat.lookback and self.lookback_us > 2 * self.window_us):
            fail(f"lookback_us is for {_having('lookback')}, more than two windows")

    @property
    def statistic(self):
        """The :class:`~scoring.features.stats.Stat` this spec computes."""
        return STATS[self.stat]

    @property
    def extras(self):
        """The columns this spec adds beside its value: ((name, finish), ...)."""
        return tuple((name(self), finish) for name, finish in self.statistic.extra)

    @property
    def key(self):
        """The column this spec is defined over: every row a value reads shares it, so a
        log cut by this column (a hash of it) gives each part exact values. The entity's
        column, but the port's for a statistic of other entities' rows at the port (a
        convoy: other plates at the same port)."""
        return "port_code" if self.statistic.at_port else ENTITY_COLUMN[self.entity]

    @property
    def reach_us(self):
        """How far before a crossing its value reads: every row it reads lies in
        ``[t - reach, t)``, so a log cut in time gives a row its exact value from the
        rows of that span. None for a value that reads all history."""
        reach = self.lookback_us if self.statistic.lookback else self.window_us
        if self.below is not None:
            return None   # a row's base reads all its own history
        if reach is None or self.outcome is None:
            return reach
        return reach + OUTCOME_LAG_US   # a row's outcome is seen that much later


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from other features' values of the same crossing.

    Parameters
    ----------
    name : str
    inputs : tuple of str
        Context, history (model inputs or not) or earlier derived feature names.
    formula : callable
        ``formula(*values)``, using arithmetic only, so that the same code gives the
        same floats on numpy columns (offline) and on Python floats (online); NaN in,
        NaN out. Denominators are kept away from 0 by the definition (``+ 1``).
    help : str
    """

    name: str
    inputs: tuple
    formula: Callable
    help: str = ""
