"""Feature definitions: each defined once, with its executions beside it.

Two families:

- **Context** features depend on the crossing alone. :func:`context_frame`
  computes them for a whole log, :func:`context_record` for one crossing; both
  call the same small functions of this module, so they cannot drift apart.
- **History** features depend on the plate's, the carrier's or the port's earlier
  rows. Each is a :class:`HistoryFeature` spec (entity, statistic, direction,
  window, outcome). :func:`history_frame` executes every spec over a whole log
  with sorts and prefix counts; the service executes the same specs against its
  store (``HistoryFeature`` carries everything a query needs).
- **Derived** features are arithmetic of other features' values (a history value
  against the plate's own usual, a context value against a history value). Each
  is a :class:`DerivedFeature`; the same formula runs on columns offline
  (:func:`feature_frame`) and on one crossing's floats online
  (:func:`feature_record`).

Point in time: a row sees only rows that crossed *strictly before* it, and an
outcome only once resolved, ``OUTCOME_LAG_US`` after the inspected crossing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.paths import extra_ports_file
from scoring.ports import port_zones

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
#: an inspection's outcome counts as known this long after the crossing
OUTCOME_LAG_US = 2 * HOUR_US


#: what a :class:`HistoryFeature` may compute
STATS = ("count", "hours_since_last", "days_since_first", "distinct_ports", "last_other_port",
         "mean_gap_hours", "hour_share", "convoy_partners")
#: whose earlier rows: the column that keys them
ENTITY_COLUMN = {"plate": "plate_id", "carrier": "carrier_id", "port": "port_code"}
#: outcome flags a count may be restricted to (``referred``: the referral column is
#: neither ``none`` nor empty, whoever picked it)
OUTCOMES = ("inspected", "seizure", "referred")


@dataclass(frozen=True)
class HistoryFeature:
    """One point-in-time statistic of an entity's earlier crossings.

    Parameters
    ----------
    name : str
    entity : {"plate", "carrier", "port"}
        Whose history: rows with the same ``plate_id``, ``carrier_id`` or ``port_code``.
    stat : str, one of :data:`STATS`
        ``count`` of the rows; ``hours_since_last`` / ``days_since_first`` row;
        ``distinct_ports``; ``last_other_port`` (1 when the latest row was at another
        port); ``mean_gap_hours``, the mean hours between the rows,
        ``(last - first) / (count - 1)``, NaN with fewer than 2; ``hour_share``, the
        share of the rows whose time of day is within ``band_us`` of this crossing's
        (circular, on UTC time of day), NaN without rows; ``convoy_partners``, the
        distinct other plates that crossed at this port in ``[t - window, t)`` and had
        crossed at this port within ``window`` of one of the plate's own earlier
        crossings, that earlier pair wholly in ``[t - lookback, t - window)`` (a convoy
        seen again, recently).
    direction : {"outbound", "inbound"} or None
        Which earlier rows count; None for both.
    window_us : int or None
        Only rows in ``[t - window, t)``; None for all history.
    outcome : one of :data:`OUTCOMES` or None
        Count only rows whose resolved outcome has this flag set, visible from
        ``crossed_at + OUTCOME_LAG_US`` on.
    band_us : int or None
        ``hour_share`` only: half-width of the time-of-day band.
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
    """

    name: str
    entity: str
    stat: str
    direction: str | None = None
    window_us: int | None = None
    outcome: str | None = None
    band_us: int | None = None
    lookback_us: int | None = None
    model_input: bool = True
    help: str = ""

    def __post_init__(self):
        def bad(field, allowed):
            raise ValueError(f"{self.name}: {field} {getattr(self, field)!r} is not one of "
                             f"{allowed}")
        if self.entity not in ENTITY_COLUMN:
            bad("entity", tuple(ENTITY_COLUMN))
        if self.stat not in STATS:
            bad("stat", STATS)
        if self.direction not in (None, "outbound", "inbound"):
            bad("direction", (None, "outbound", "inbound"))
        if self.outcome not in (None,) + OUTCOMES:
            bad("outcome", (None,) + OUTCOMES)
        if self.outcome is not None and self.stat != "count":
            raise ValueError(f"{self.name}: an outcome restricts a count, not {self.stat!r}")
        if self.window_us is not None and not self.window_us > 0:
            raise ValueError(f"{self.name}: window_us {self.window_us!r} is not > 0")
        if (self.stat == "hour_share") != (self.band_us is not None):
            raise ValueError(f"{self.name}: band_us is for hour_share, and hour_share needs it")
        if self.stat == "hour_share" and not (self.window_us and 0 < self.band_us < DAY_US / 2):
            raise ValueError(f"{self.name}: hour_share needs a window and 0 < band_us < 12 h")
        if self.stat == "convoy_partners" and (self.entity != "plate" or not self.window_us):
            raise ValueError(f"{self.name}: convoy_partners is of a plate, within a window")
        if self.lookback_us is not None and not (
                self.stat == "convoy_partners" and self.lookback_us > 2 * self.window_us):
            raise ValueError(f"{self.name}: lookback_us is for convoy_partners, more than "
                             "two windows")

    @property
    def key(self):
        """The column this spec is defined over: every row a value reads shares it, so a
        log cut by this column (a hash of it) gives each part exact values. The entity's
        column, but the port's for a convoy (other plates at the same port)."""
        return "port_code" if self.stat == "convoy_partners" else ENTITY_COLUMN[self.entity]

    @property
    def reach_us(self):
        """How far before a crossing its value reads: every row it reads lies in
        ``[t - reach, t)``, so a log cut in time gives a row its exact value from the
        rows of that span. None for a value that reads all history."""
        reach = self.lookback_us if self.stat == "convoy_partners" else self.window_us
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


HISTORY = (
    HistoryFeature("plate_out_24h", "plate", "count", "outbound", DAY_US,
                   help="outbound crossings of the plate in the last 24 h"),
    HistoryFeature("plate_out_7d", "plate", "count", "outbound", 7 * DAY_US,
                   help="outbound crossings of the plate in the last 7 days"),
    HistoryFeature("plate_out_30d", "plate", "count", "outbound", 30 * DAY_US,
                   help="outbound crossings of the plate in the last 30 days"),
    HistoryFeature("plate_in_30d", "plate", "count", "inbound", 30 * DAY_US,
                   help="inbound crossings of the plate in the last 30 days"),
    HistoryFeature("plate_hours_since_inbound", "plate", "hours_since_last", "inbound",
                   help="hours since the plate last entered the US"),
    HistoryFeature("plate_inbound_other_port", "plate", "last_other_port", "inbound",
                   help="1 when the plate last entered by another port"),
    HistoryFeature("plate_hours_since_outbound", "plate", "hours_since_last", "outbound",
                   help="hours since the plate last left the US"),
    HistoryFeature("plate_days_since_first_seen", "plate", "days_since_first",
                   help="days since the plate's first crossing in the log"),
    HistoryFeature("plate_ports_used", "plate", "distinct_ports",
                   help="distinct ports the plate has crossed at"),
    HistoryFeature("plate_prior_inspections", "plate", "count", "outbound",
                   outcome="inspected", help="earlier secondary inspections of the plate"),
    HistoryFeature("plate_prior_seizures", "plate", "count", "outbound",
                   outcome="seizure", help="earlier seizures from the plate"),
    HistoryFeature("carrier_out_7d", "carrier", "count", "outbound", 7 * DAY_US,
                   help="outbound crossings of the motor carrier in the last 7 days"),
    HistoryFeature("carrier_out_30d", "carrier", "count", "outbound", 30 * DAY_US,
                   help="outbound crossings of the motor carrier in the last 30 days"),
    HistoryFeature("carrier_days_since_first_seen", "carrier", "days_since_first",
                   help="days since the carrier's first crossing in the log"),
    HistoryFeature("carrier_prior_inspections", "carrier", "count", "outbound",
                   outcome="inspected", help="earlier inspections of the carrier's trucks"),
    HistoryFeature("carrier_prior_seizures", "carrier", "count", "outbound",
                   outcome="seizure", help="earlier seizures from the carrier's trucks"),
    HistoryFeature("plate_prior_referrals", "plate", "count", "outbound", outcome="referred",
                   help="earlier outbound crossings of the plate referred to secondary "
                        "(any pick: random, explore, model, officer, lookout)"),
    # 7 days, not 28: with 28 the port's query (thousands of rows at a busy port) took
    # the score p99 from 57 to 127 ms on a store holding a 120-day world
    HistoryFeature("port_hour_share_7d", "port", "hour_share", "outbound", 7 * DAY_US,
                   band_us=HOUR_US,
                   help="share of the port's outbound crossings in the last 7 days within "
                        "1 h of this crossing's time of day (UTC time of day, so local "
                        "time but for a daylight-saving change inside the window)"),
    # the lookback bounds a port's pass: at the border's volume a busy port makes some 24M
    # near pairs a day, and without it the pairs kept grow with the whole history
    HistoryFeature("plate_convoy_partners", "plate", "convoy_partners", "outbound",
                   10 * 60 * 1_000_000, lookback_us=7 * DAY_US,
                   help="other plates that left by this port in the 10 minutes before this "
                        "crossing and had left by it within 10 minutes of this plate in the "
                        "7 days before"),
    # not model inputs: they feed the derived features below
    HistoryFeature("plate_out_all", "plate", "count", "outbound", model_input=False,
                   help="earlier outbound crossings of the plate, all history"),
    HistoryFeature("plate_mean_gap_hours", "plate", "mean_gap_hours", model_input=False,
                   help="mean hours between the plate's earlier crossings (either way)"),
)

DERIVED = (
    DerivedFeature("plate_out_per_day", ("plate_out_all", "plate_days_since_first_seen"),
                   lambda n, days: n / (days + 1),
                   help="the plate's earlier outbound crossings per day since first seen, "
                        "+1 day (NaN for a plate never seen)"),
    DerivedFeature("plate_turnaround_ratio", ("plate_hours_since_inbound",
                                              "plate_mean_gap_hours"),
                   lambda hours, gap: hours / (gap + 1),
                   help="hours since the last inbound crossing over the plate's mean hours "
                        "between earlier crossings, +1 h (NaN without an inbound crossing "
                        "or with fewer than 2 earlier crossings)"),
    DerivedFeature("plate_burst_7_30", ("plate_out_7d", "plate_out_30d"),
                   lambda week, month: week / (month * 7 / 30 + 1),
                   help="outbound crossings in the last 7 days over the 7 days' share of "
                        "the last 30 days', +1"),
    DerivedFeature("registration_age_first_seen", ("registration_age_days",
                                                   "plate_days_since_first_seen"),
                   lambda age, days: age - days,
                   help="registration age in days when the plate was first seen (NaN "
                        "when either is missing)"),
)
#: not a model input: the port name a reason quotes ("entering at Laredo")
LAST_INBOUND_PORT = "plate_last_inbound_port"

# --- context features ------------------------------------------------------

#: (name, kind, help); kind "category" columns are encoded by the model
CONTEXT = (
    ("port_code", "category", "port of the crossing"),
    ("local_hour", "number", "hour of day at the port (0-23)"),
    ("local_weekday", "number", "day of week at the port (0 = Monday)"),
    ("vehicle_class", "category", "personal, truck or bus"),
    ("body_type", "category", "body type"),
    ("plate_country", "category", "country part of the plate jurisdiction"),
    ("plate_jurisdiction", "category", "state or province that issued the plate"),
    ("vehicle_make", "category", "make"),
    ("vehicle_age_years", "number", "local year of crossing minus model year"),
    ("registration_age_days", "number", "days since registration or title"),
    ("occupants", "number", "people in the vehicle"),
    ("trailer_empty", "number", "truck declared empty (1/0)"),
    ("manifest_value_usd", "number", "declared value of a truck's load"),
)
#: features that carry the same information, so that one cannot be switched off alone:
#: naming any member, or the group, switches off every member (plate country is the
#: country part of the plate jurisdiction; either stands in for national origin)
FEATURE_GROUPS = {"plate_issuer": ("plate_country", "plate_jurisdiction")}

FEATURES = (tuple(name for name, _, _ in CONTEXT)
            + tuple(h.name for h in HISTORY if h.model_input) + tuple(d.name for d in DERIVED))
CATEGORICAL = tuple(name for name, kind, _ in CONTEXT if kind == "category")
HELP = ({name: text for name, _, text in CONTEXT} | {h.name: h.help for h in HISTORY}
        | {d.name: d.help for d in DERIVED})
_TRUCK_ONLY = ("trailer_empty", "manifest_value_usd")


def _check_declared():
    """Names unique; a derived feature's inputs declared before it (checked at import)."""
    names = [name for name, _, _ in CONTEXT] + [h.name for h in HISTORY]
    for spec in DERIVED:
        unknown = [i for i in spec.inputs if i not in names]
        if unknown:
            raise ValueError(f"{spec.name}: inputs {unknown} are not declared before it")
        names.append(spec.name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature names declared twice: {repeated}")


_check_declared()


def resolve_exclusions(names):
    """Expand switched-off feature names (and groups) to feature names; reject unknowns.

    A feature in a :data:`FEATURE_GROUPS` group takes its whole group with it, whichever
    member is named: a model without ``plate_jurisdiction`` but with ``plate_country``
    (or the other way round) would still see where the plate was issued.

    >>> resolve_exclusions(["plate_jurisdiction"])
    ('plate_country', 'plate_jurisdiction')
    >>> resolve_exclusions(["plate_country"])
    ('plate_country', 'plate_jurisdiction')
    """
    out = set()
    for name in names:
        if name in FEATURE_GROUPS:
            out.update(FEATURE_GROUPS[name])
        elif name in FEATURES:
            out.add(name)
            for members in FEATURE_GROUPS.values():
                if name in members:
                    out.update(members)
        else:
            raise ValueError(f"feature {name!r} is not one of: "
                             + ", ".join(sorted(set(FEATURES) | set(FEATURE_GROUPS))))
    return tuple(sorted(out))


def _zones():
    """The port table's time zones (shipped ports plus ``$SOUTHBOUND_PORTS_FILE``)."""
    return port_zones(extra_ports_file())


def _local_parts(micros, zone):
    """(hour, weekday) at the port, from UTC µs and the port's zone; NaN without one.

    The port's own zone with its daylight-saving rules, never the offset the timestamp
    was written with (logs written in UTC give the same hour as logs in local time).
    """
    if zone is None:
        return math.nan, math.nan
    local = datetime.fromtimestamp(micros // 1_000_000, tz=zone)
    return float(local.hour), float(local.weekday())


def _local_parts_frame(micros, ports):
    """Vectorised :func:`_local_parts`: one conversion per time zone of the ports."""
    zones = _zones()
    hour = np.full(len(micros), np.nan)
    weekday = np.full(len(micros), np.nan)
    codes, distinct = pd.factorize(np.asarray(ports, dtype=object))
    by_zone = {}   # zone name: (zone, the codes of its ports), through the distinct ports
    for code, port in enumerate(distinct):
        zone = zones.get(port)
        if zone is not None:
            by_zone.setdefault(zone.key, (zone, []))[1].append(code)
    for zone, port_codes in by_zone.values():
        index = np.flatnonzero(np.isin(codes, port_codes))
        seconds = micros[index] // 1_000_000  # the same whole seconds as the record path
        local = pd.to_datetime(seconds, unit="s", utc=True).tz_convert(zone)
        hour[index] = local.hour
        weekday[index] = local.day_of_week
    return hour, weekday


def _text(column, objects=None):
    """A text column for a feature frame: arrow's own array when the log holds it as the
    frame would hold an object array of it (pandas' ``str``: arrow, NaN for missing;
    made from objects it costs a conversion one string at a time), else ``objects`` or
    :func:`_objects` of it."""
    dtype = column.dtype
    if (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
            and dtype.na_value is np.nan):
        return column.array
    return _objects(column) if objects is None else objects


def _utc_year(micros):
    return (np.asarray(micros, dtype=np.int64) // DAY_US).astype("datetime64[D]").astype(
        "datetime64[Y]").astype(np.int64) + 1970


def _plate_country(jurisdiction):
    if jurisdiction is None or jurisdiction == "UNK":
        return jurisdiction
    return jurisdiction.split("-", 1)[0]


def context_frame(frame):
    """Context features of every row of a canonical log frame.

    Parameters
    ----------
    frame : DataFrame, shape (n, contract columns)
        As returned by :func:`scoring.contract.read_log`.

    Returns
    -------
    DataFrame, shape (n, len(CONTEXT))
    """
    micros = frame["crossed_at"].to_numpy(np.int64)
    ports = _objects(frame["port_code"])
    hour, weekday = _local_parts_frame(micros, ports)
    year = _utc_year(micros)
    truck = (frame["vehicle_class"] == "truck").to_numpy()
    juris = frame["plate_jurisdiction"]
    out = pd.DataFrame({
        "port_code": _text(frame["port_code"], ports),
        "local_hour": hour,
        "local_weekday": weekday,
        "vehicle_class": _text(frame["vehicle_class"]),
        "body_type": _text(frame["body_type"]),
        "plate_country": _objects(juris, _plate_country),
        "plate_jurisdiction": _text(juris),
        "vehicle_make": _objects(frame["vehicle_make"], _make_key),
        "vehicle_age_years": year - frame["vehicle_model_year"].to_numpy(float),
        "registration_age_days": frame["registration_age_days"].to_numpy(float),
        "occupants": frame["occupants"].to_numpy(float),
    }, index=frame.index)
    for name in _TRUCK_ONLY:
        out[name] = np.where(truck, frame[name].to_numpy(float), np.nan)
    return out


def context_record(record):
    """Context features of one canonical record (the service's execution).

    Returns
    -------
    dict
        The same keys and values as one row of :func:`context_frame`.
    """
    hour, weekday = _local_parts(record["crossed_at"], _zones().get(record["port_code"]))
    year = datetime.fromtimestamp(record["crossed_at"] // 1_000_000, tz=timezone.utc).year
    truck = record["vehicle_class"] == "truck"
    make = record.get("vehicle_make")
    out = {
        "port_code": record["port_code"],
        "local_hour": hour,
        "local_weekday": weekday,
        "vehicle_class": record["vehicle_class"],
        "body_type": record.get("body_type"),
        "plate_country": _plate_country(record.get("plate_jurisdiction")),
        "plate_jurisdiction": record.get("plate_jurisdiction"),
        "vehicle_make": None if make is None else _make_key(make),
        "vehicle_age_years": float(year - record["vehicle_model_year"]),
        "registration_age_days": float(record["registration_age_days"]),
        "occupants": float(record["occupants"]),
    }
    for name in _TRUCK_ONLY:
        out[name] = float(record[name]) if truck else np.nan
    return out


def _make_key(make):
    return " ".join(str(make).upper().split())


# --- history features, offline execution -----------------------------------

def _count_before(ev_codes, ev_times, q_codes, q_times, q_order=None, ev_order=None):
    """For each query, the events of the same entity strictly before its time.

    Returns (count, position): ``position`` indexes the events sorted by
    (code, time, input order); the last earlier event is ``position - 1`` and the
    entity's first event is ``position - count``. ``q_order`` and ``ev_order``, the
    queries' and the events' order by (code, time, input order) when the caller knows
    them, only make it faster.
    """
    keyed = _count_before_keyed(ev_codes, ev_times, q_codes, q_times, q_order, ev_order)
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


def _count_before_keyed(ev_codes, ev_times, q_codes, q_times, q_order=None, ev_order=None):
    """:func:`_count_before` by one int64 key per row, (code, time): one stable sort of the
    events and two binary searches instead of a three-key sort of events and queries
    together (searching the queries in key order, ``q_order``, when given: each search
    starts where the last ended). None when the key would not fit in 62 bits (then the
    general way)."""
    if not len(ev_codes) or not len(q_codes):
        return None
    lo = min(int(ev_times.min()), int(q_times.min()))
    span = max(int(ev_times.max()), int(q_times.max())) - lo + 1
    low_code = min(int(ev_codes.min()), int(q_codes.min()))
    codes = max(int(ev_codes.max()), int(q_codes.max())) - low_code + 1
    if codes * span >= 2 ** 62:
        return None
    ev_key = (ev_codes - low_code) * span + (ev_times - lo)
    order = (np.argsort(ev_key, kind="stable")  # ties in input order, as the general way
             if ev_order is None else ev_order)
    ev_key = ev_key[order]
    q_base = (q_codes - low_code) * span
    q_key = q_base + (q_times - lo)
    if q_order is not None:
        q_base, q_key = q_base[q_order], q_key[q_order]
    # side "left": an event at the query's own time is not before it
    position = np.searchsorted(ev_key, q_key, side="left")
    count = position - np.searchsorted(ev_key, q_base, side="left")
    if q_order is not None:
        position[q_order], count[q_order] = position.copy(), count.copy()
    return count, position, order


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
        no model input), and ``plate_last_inbound_port``, for reasons, not the model,
        when a ``last_other_port`` spec is among ``specs``.

    Examples
    --------
    >>> feats = history_frame(read_log("log.csv").frame)   # doctest: +SKIP
    """
    if query is None:
        query = (frame["direction"] == "outbound").to_numpy()
    query = np.asarray(query, dtype=bool)
    order = _time_order(frame)
    times = frame["crossed_at"].to_numpy(np.int64)[order]
    directions = {d: _column_equals(frame["direction"], d)[order]
                  for d in {h.direction for h in specs} - {None}}
    ports = _objects(frame["port_code"])[order]
    flags = {"inspected": frame["inspected"].to_numpy(float)[order] == 1.0,
             "seizure": frame["seizure"].to_numpy(float)[order] == 1.0,
             "referred": (frame["referral"].notna()
                          & (frame["referral"] != "none")).to_numpy()[order]}
    q_rows = np.flatnonzero(query[order])
    q_times = times[q_rows]
    q_ports = ports[q_rows]
    out = {}
    for entity, column in ENTITY_COLUMN.items():
        mine = [h for h in specs if h.entity == entity]
        if not mine:
            continue
        codes, has = _entity_codes(frame[column])
        codes, has = codes[order], has[order]
        q_codes, q_has = codes[q_rows], has[q_rows]
        # rows by (code, time, position), the rows being in time order: any subset of
        # them (a spec's events) is in that order when filtered from it
        by_code = np.argsort(codes, kind="stable")
        q_order = np.argsort(q_codes, kind="stable")
        events = {}   # specs that read the same events share them, and their counts
        for spec in mine:
            which = (spec.direction, spec.outcome)
            if which not in events:
                mask = has.copy()
                if spec.direction is not None:
                    mask &= directions[spec.direction]
                if spec.outcome is not None:
                    mask &= flags[spec.outcome]
                ev_idx = np.flatnonzero(mask)
                ev_times = times[ev_idx]
                if spec.outcome is not None:
                    ev_times = ev_times + OUTCOME_LAG_US
                events[which] = (ev_idx, ev_times, (np.cumsum(mask) - 1)[by_code[mask[by_code]]],
                                 {})
            ev_idx, ev_times, ev_order, counted = events[which]
            values = _execute(spec, codes[ev_idx], ev_times, ev_idx, ports,
                              q_codes, q_times, q_ports, out, q_order, ev_order, counted)
            out[spec.name] = np.where(q_has, values, np.nan)
    names = [h.name for h in specs] + [LAST_INBOUND_PORT] * (LAST_INBOUND_PORT in out)
    if not frame.index.is_unique:
        return pd.DataFrame(out, index=frame.index[order[q_rows]])[names].loc[
            frame.index[query]]
    back = np.argsort(order[q_rows])  # the query rows in the frame's order
    return pd.DataFrame({name: out[name][back] for name in names},
                        index=frame.index[order[q_rows][back]])


def _time_order(frame):
    """Positions of the frame's rows in the one canonical order, time then crossing_id,
    so that ties resolve the same way online (arrow's stable sort; ids compare as
    UTF-8 bytes, which is their code points' order)."""
    ids = frame["crossing_id"]
    table = pa.table({"t": frame["crossed_at"].to_numpy(np.int64),
                      "id": _arrow_text(ids)})
    return pc.sort_indices(table, sort_keys=[("t", "ascending"),
                                             ("id", "ascending")]).to_numpy()


def _arrow_text(values):
    """A text column as an arrow array (no copy when arrow holds it already)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return pa.array(values.array)
    return pa.array(values.to_numpy(dtype=str), type=pa.string())


def _column_equals(values, text):
    """``values == text`` as a numpy bool array (missing: False)."""
    return (values == text).fillna(False).to_numpy(dtype=bool)


def _objects(values, func=None):
    """A column as a numpy object array (NaN where missing), optionally ``func`` of each
    value, through its distinct values: each converted, and ``func`` called, once."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:-1] = np.asarray(distinct, dtype=object)
    if func is not None:
        table[:-1] = [func(v) for v in table[:-1]]
    table[-1] = np.nan
    return table[codes]


def _entity_codes(values):
    has = values.notna().to_numpy()
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), has


def _execute(spec, ev_codes, ev_times, ev_idx, ports, q_codes, q_times, q_ports, out,
             q_order=None, ev_order=None, counted=None):
    """One spec's values for the queries. ``counted``, a dict shared by the specs over
    the same events: their :func:`_count_before` results by how far before the
    queries' times they count (0: at the time itself), each computed once."""
    counted = {} if counted is None else counted

    def before(shift=0):
        if shift not in counted:
            counted[shift] = _count_before(ev_codes, ev_times, q_codes, q_times - shift,
                                           q_order, ev_order)
        return counted[shift]

    if spec.stat == "hour_share":
        return _hour_share(spec, ev_codes, ev_times, q_codes, q_times)
    if spec.stat == "convoy_partners":
        return _convoy_partners(spec.window_us, ev_codes, ev_times, ports[ev_idx], q_codes,
                                q_times, q_ports, lookback=spec.lookback_us)
    if spec.stat == "count":
        count = before()[0]
        if spec.window_us is not None:
            count = count - before(spec.window_us)[0]
        return count.astype(float)
    if spec.stat == "distinct_ports":
        # a port counts from the entity's first crossing there on
        port, _ = pd.factorize(ports[ev_idx], use_na_sentinel=False)  # (entity, port): one int
        first = ~pd.Series(ev_codes * (port.max(initial=0) + 1) + port).duplicated().to_numpy()
        count, _, _ = _count_before(ev_codes[first], ev_times[first], q_codes, q_times,
                                    q_order)
        return count.astype(float)
    count, position, ev_order = before()
    seen = count > 0
    if not len(ev_order):  # no such event anywhere: every query is unseen
        if spec.stat == "last_other_port":
            out[LAST_INBOUND_PORT] = np.full(len(q_codes), None, dtype=object)
        return np.full(len(q_codes), np.nan)
    first = ev_times[ev_order[np.clip(position - count, 0, len(ev_order) - 1)]]
    if spec.stat == "days_since_first":
        return np.where(seen, (q_times - first) / DAY_US, np.nan)
    last_i = ev_order[np.maximum(position - 1, 0)]
    if spec.stat == "mean_gap_hours":
        # the same operations, in the same order, as history_values
        gap = (ev_times[last_i] - first) / HOUR_US / np.maximum(count - 1, 1)
        return np.where(count >= 2, gap, np.nan)
    if spec.stat == "hours_since_last":
        return np.where(seen, (q_times - ev_times[last_i]) / HOUR_US, np.nan)
    if spec.stat == "last_other_port":
        last_port = ports[ev_idx[last_i]]
        out[LAST_INBOUND_PORT] = np.where(seen, last_port, None)
        return np.where(seen, (last_port != q_ports).astype(float), np.nan)
    raise AssertionError(spec.stat)


def _hour_share(spec, ev_codes, ev_times, q_codes, q_times):
    """Share of the entity's rows in ``[t - window, t)`` within ``band`` of t's time of day.

    A row ``d = t - s`` earlier is near when ``d mod 1 day`` is at most ``band`` or at
    least ``1 day - band``: ``d`` lies in one of the bands ``[k days - band, k days +
    band]``, k = 0, 1, ... Each band is two prefix counts on the entity's sorted times.
    """
    window, band = spec.window_us, spec.band_us
    near = np.zeros(len(q_codes), dtype=np.int64)
    total = np.zeros(len(q_codes), dtype=np.int64)
    for code in np.unique(q_codes):
        at = np.flatnonzero(q_codes == code)
        times = np.sort(ev_times[ev_codes == code])
        t = q_times[at]

        def before(x):  # rows strictly before x
            return np.searchsorted(times, x, side="left")

        total[at] = before(t) - before(t - window)
        for k in range(0, (window + band) // DAY_US + 1):
            lo, hi = max(k * DAY_US - band, 1), min(k * DAY_US + band, window)
            if lo <= hi:  # d in [lo, hi]  <=>  s in [t - hi, t - lo]
                near[at] += before(t - lo + 1) - before(t - hi)
    share = near / np.maximum(total, 1)
    return np.where(total > 0, share, np.nan)


def _near_pairs(times, x_lo, x_hi):
    """Pairs (query, row) with ``times[row]`` in ``[x_lo, x_hi)`` (``times`` sorted)."""
    lo = np.searchsorted(times, x_lo, side="left")
    hi = np.searchsorted(times, x_hi, side="left")
    size = hi - lo
    query = np.repeat(np.arange(len(lo)), size)
    offsets = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    return query, np.repeat(lo, size) + offsets


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


#: near pairs of a port per step of :func:`_convoy_partners` (bounds its memory at busy
#: ports: a step holds some ten int64 arrays of this length)
CONVOY_CHUNK_PAIRS = 4_000_000


def _convoy_partners(window, ev_codes, ev_times, ev_ports, q_codes, q_times, q_ports,
                     chunk_pairs=None, lookback=None):
    """The ``convoy_partners`` stat: see :class:`HistoryFeature`.

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
        work = np.cumsum(near)
        cuts = np.searchsorted(work, np.arange(1, work[-1] // chunk_pairs + 1) * chunk_pairs)
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


def derive(values):
    """Add every :data:`DERIVED` feature to ``values`` (columns or one crossing's floats).

    Parameters
    ----------
    values : dict
        Feature name to a float array (offline) or a float (online); changed in place.

    Returns
    -------
    dict
        ``values``, with a key per derived feature.
    """
    for spec in DERIVED:
        values[spec.name] = spec.formula(*(values[name] for name in spec.inputs))
    return values


def feature_frame(frame, query=None):
    """Model inputs (context + history + derived) of the query rows, default the outbound rows.

    Returns
    -------
    DataFrame, shape (query.sum(), len(FEATURES) + 1)
        Columns ``FEATURES`` in order, then ``plate_last_inbound_port``.
    """
    if query is None:
        query = (frame["direction"] == "outbound").to_numpy()
    query = np.asarray(query, dtype=bool)
    context = context_frame(frame.loc[query])
    history = history_frame(frame, query)
    return with_derived(pd.concat([context, history], axis=1))


def with_derived(both):
    """Context and history columns of the same rows (``both``, changed in place) with
    every derived feature added, as ``FEATURES`` then ``plate_last_inbound_port``."""
    inputs = {name for spec in DERIVED for name in spec.inputs}
    derived = derive({name: both[name].to_numpy(float) for name in inputs})
    for spec in DERIVED:
        both[spec.name] = derived[spec.name]
    return both[list(FEATURES) + [LAST_INBOUND_PORT]]


def feature_record(record, history):
    """Model inputs of one crossing (the service's execution of :func:`feature_frame`).

    Parameters
    ----------
    record : dict
        A canonical record.
    history : dict
        Its history values, from the store (:func:`history_values`).

    Returns
    -------
    dict
        Every key of :func:`feature_frame`'s row, and the history values that are no
        model input.
    """
    return derive(context_record(record) | history)


# --- history features, online execution (the service's store) ---------------

def history_select(table, entity):
    """One SQL query giving every history feature of ``entity`` for one crossing.

    Parameters
    ----------
    table : sqlalchemy.Table
        Crossings with the contract's columns, ``crossed_at`` in UTC µs and
        ``inspected`` / ``seizure`` as 1 / 0 / NULL.
    entity : {"plate", "carrier", "port"}

    Returns
    -------
    sqlalchemy.Select
        With bound parameters ``key`` (the plate_id, carrier_id or port_code) and ``t``
        (the crossing's UTC µs; only rows strictly before it are seen). One row: raw
        aggregates, a column or a few per spec of the entity (see :func:`history_values`).
    """
    import sqlalchemy as sa

    c = table.c
    key = sa.bindparam("key", type_=sa.String)
    t = sa.bindparam("t", type_=sa.BigInteger)
    earlier = sa.and_(c[ENTITY_COLUMN[entity]] == key, c.crossed_at < t)
    specs = [h for h in HISTORY if h.entity == entity]
    columns = []
    for spec in specs:
        cond = []
        if spec.direction is not None:
            cond.append(c.direction == spec.direction)
        if spec.window_us is not None:
            cond.append(c.crossed_at >= t - spec.window_us)
        if spec.outcome == "referred":
            cond += [c.referral.is_not(None), c.referral != "none", c.referral != ""]
        elif spec.outcome is not None:
            cond.append(c[spec.outcome] == 1)
        if spec.outcome is not None:
            cond.append(c.crossed_at + OUTCOME_LAG_US < t)
        when = sa.and_(*cond) if cond else sa.true()
        name = spec.name
        if spec.stat == "count":
            columns.append(sa.func.coalesce(sa.func.sum(sa.case((when, 1), else_=0)), 0)
                           .label(name))
        elif spec.stat == "distinct_ports":
            columns.append(sa.func.count(sa.distinct(c.port_code)).label(name))
        elif spec.stat == "days_since_first":
            columns.append(sa.func.min(c.crossed_at).label(name))
        elif spec.stat == "hours_since_last":
            columns.append(sa.func.max(sa.case((when, c.crossed_at), else_=None)).label(name))
        elif spec.stat == "mean_gap_hours":
            columns += [sa.func.sum(sa.case((when, 1), else_=0)).label(name + "__n"),
                        sa.func.min(sa.case((when, c.crossed_at), else_=None))
                        .label(name + "__first"),
                        sa.func.max(sa.case((when, c.crossed_at), else_=None))
                        .label(name + "__last")]
        elif spec.stat == "hour_share":
            since = (t - c.crossed_at) % DAY_US  # time of day apart, as t - s > 0
            near = sa.and_(when, sa.or_(since <= spec.band_us, since >= DAY_US - spec.band_us))
            columns += [sa.func.sum(sa.case((when, 1), else_=0)).label(name + "__n"),
                        sa.func.sum(sa.case((near, 1), else_=0)).label(name + "__near")]
        elif spec.stat == "convoy_partners":
            columns.append(_convoy_select(table, spec).label(name))
        elif spec.stat == "last_other_port":
            # the port of the latest earlier row; ties broken by crossing_id as offline
            columns.append(sa.select(c.port_code).where(earlier, when)
                           .order_by(c.crossed_at.desc(), c.crossing_id.desc()).limit(1)
                           .scalar_subquery().label(name))
        else:
            raise AssertionError(spec.stat)
    select = sa.select(*columns).where(earlier)
    windows = [h.window_us for h in specs]
    if None not in windows:  # every spec windowed: let the index bound the rows read
        select = select.where(c.crossed_at >= t - max(windows))
    return select


def _convoy_select(table, spec):
    """The ``convoy_partners`` count as a scalar subquery: candidates through the port's
    (port_code, crossed_at) index, their earlier pairs with the plate through the plate
    index (bound parameters ``key``, ``port``, ``t``)."""
    import sqlalchemy as sa

    key = sa.bindparam("key", type_=sa.String)
    port = sa.bindparam("port", type_=sa.String)
    t = sa.bindparam("t", type_=sa.BigInteger)
    window = spec.window_us
    now, mine, theirs = (table.alias(n) for n in ("convoy_now", "convoy_mine", "convoy_theirs"))

    def moved(alias):
        return [alias.c.port_code == port] + (
            [alias.c.direction == spec.direction] if spec.direction else [])
    since = ([mine.c.crossed_at >= t - spec.lookback_us,
              theirs.c.crossed_at + 0 >= t - spec.lookback_us] if spec.lookback_us else [])
    before = (sa.select(sa.literal(1)).select_from(mine).join(theirs, sa.true())
              .where(mine.c.plate_id == key, *moved(mine), mine.c.crossed_at < t - window,
                     *since,
                     theirs.c.plate_id == now.c.plate_id, *moved(theirs),
                     # "+ 0": a bound no index may use, or SQLite ranges the index from
                     # mine - window to t - window (the whole port's history since)
                     theirs.c.crossed_at + 0 < t - window,
                     theirs.c.crossed_at >= mine.c.crossed_at - window,
                     theirs.c.crossed_at <= mine.c.crossed_at + window))
    return (sa.select(sa.func.count(sa.distinct(now.c.plate_id)))
            .where(*moved(now), now.c.crossed_at >= t - window, now.c.crossed_at < t,
                   now.c.plate_id != key, before.exists())
            .scalar_subquery())


def history_values(entity, row, t, port):
    """Turn the raw aggregates of :func:`history_select` into feature values.

    Returns
    -------
    dict
        Feature name to float (NaN where unseen), plus ``plate_last_inbound_port``
        for plates; identical to the offline values of the same crossing.
    """
    out = {}
    for spec in (h for h in HISTORY if h.entity == entity):
        if spec.stat == "mean_gap_hours":
            n = int(row[spec.name + "__n"] or 0)
            if n < 2:
                out[spec.name] = np.nan
            else:
                first, last = int(row[spec.name + "__first"]), int(row[spec.name + "__last"])
                out[spec.name] = (last - first) / HOUR_US / (n - 1)
            continue
        if spec.stat == "hour_share":
            n = int(row[spec.name + "__n"] or 0)
            out[spec.name] = int(row[spec.name + "__near"]) / n if n else np.nan
            continue
        value = row[spec.name]
        if spec.stat in ("count", "distinct_ports", "convoy_partners"):
            out[spec.name] = float(value or 0)
        elif value is None:
            out[spec.name] = np.nan
            if spec.stat == "last_other_port":
                out[LAST_INBOUND_PORT] = None
        elif spec.stat == "days_since_first":
            out[spec.name] = (t - int(value)) / DAY_US
        elif spec.stat == "hours_since_last":
            out[spec.name] = (t - int(value)) / HOUR_US
        elif spec.stat == "last_other_port":
            out[spec.name] = float(value != port)
            out[LAST_INBOUND_PORT] = value
    return out


def unseen_history(entity):
    """History values of an entity with no earlier rows (or no entity at all)."""
    out = {h.name: np.nan for h in HISTORY if h.entity == entity}
    if entity == "plate":
        out[LAST_INBOUND_PORT] = None
    return out
