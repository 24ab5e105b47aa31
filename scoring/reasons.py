"""Reasons in an officer's words, from the model's own additive contributions.

Features are grouped by what an officer would recognise ("left 1.8 h after
entering at Laredo" covers both the time since entry and the other-port flag).
A group's weight is the sum of its features' contributions to the raw score;
the reasons are the groups that raised the score most, worded from the
crossing's own values.

A factor that holds for every crossing at the port (the port itself) is no
reason: it still moves the score, but never takes one of the three places.
A referred crossing gives its weakest of three places to a neutral "selected
for inspection" (one to three in all), whatever picked it (lookout, random share or model), so a referral
never looks like a mistake and never says how it was picked.
"""
from __future__ import annotations

import contextvars
import math
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.features import LAST_INBOUND_PORT
from scoring.paths import extra_ports_file
from scoring.ports import port_table

NOTHING_STANDS_OUT = "no risk factor raised the score"
SELECTED = {"factor": "selection", "text": "selected for inspection"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def port_names():
    """Port code to name: the port table (shipped, plus ``$SOUTHBOUND_PORTS_FILE``), or
    the table a batch's wording pinned when it began (:func:`reason_lines`)."""
    pinned = _PINNED_NAMES.get()
    return pinned if pinned is not None else _names(extra_ports_file())


#: the port names of the batch being worded: read once for it, not once per wording
_PINNED_NAMES = contextvars.ContextVar("port_names", default=None)


@lru_cache(maxsize=8)
def _names(extra):
    return {code: row["port_name"] for code, row in port_table(extra).items()}


def port_name(code):
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return "an unknown port"
    return port_names().get(str(code), f"port {code}")


def _missing(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def _n(x):
    return 0 if _missing(x) else int(x)


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def _duration(hours):
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.0f} days"


def _turnaround(f):
    hours = f["plate_hours_since_inbound"]
    if _missing(hours):
        return "no entry into the US on record for this plate"
    text = f"left {_duration(hours)} after entering at {port_name(f.get(LAST_INBOUND_PORT))}"
    if f.get("plate_inbound_other_port") == 1.0:
        text += f", leaving by {port_name(f['port_code'])}"
    return text


def _frequency(f):
    day, week, month = _n(f["plate_out_24h"]), _n(f["plate_out_7d"]), _n(f["plate_out_30d"])
    if day:
        return f"{_plural(day, 'outbound crossing')} in the last 24 h"
    if week:
        return f"{_plural(week, 'outbound crossing')} in the last 7 days"
    if month:
        return f"{_plural(month, 'outbound crossing')} in the last 30 days"
    return "first outbound crossing in 30 days"


def _registration(f):
    days = f["registration_age_days"]
    return ("registration age not recorded" if _missing(days)
            else f"registration {_plural(int(days), 'day')} old")


def _newness(f):
    days = f["plate_days_since_first_seen"]
    if _missing(days):
        return "plate never seen before"
    return f"plate first seen {_duration(days * 24)} ago"


def _ports(f):
    return f"{_plural(_n(f['plate_ports_used']), 'different port')} used before"


def _plate_record(f):
    seizures, inspections = _n(f["plate_prior_seizures"]), _n(f["plate_prior_inspections"])
    if seizures:
        return f"{_plural(seizures, 'earlier seizure')} from this plate"
    if inspections:
        return f"inspected {_plural(inspections, 'time')} before, nothing found"
    return "never inspected before"


def _carrier(f):
    if _missing(f["carrier_out_30d"]):
        return "no motor carrier declared"
    if _n(f["carrier_prior_seizures"]):
        return f"carrier had {_plural(_n(f['carrier_prior_seizures']), 'earlier seizure')}"
    days = f["carrier_days_since_first_seen"]
    if _missing(days):
        return "carrier never seen before"
    if days < 30:
        return f"carrier first seen {_duration(days * 24)} ago"
    return f"carrier crossed {_plural(_n(f['carrier_out_7d']), 'time')} in 7 days"


def _load(f):
    if f["trailer_empty"] == 1.0:
        return "trailer declared empty"
    value = f["manifest_value_usd"]
    return ("load value not declared" if _missing(value)
            else f"declared load worth ${value:,.0f}")


def _vehicle(f):
    kind = next((v for v in (f.get("body_type"), f.get("vehicle_class")) if not _missing(v)),
                "vehicle")
    kind = str(kind).replace("_", " ")
    age = f["vehicle_age_years"]
    if _missing(age):
        return f"{kind}, model year not recorded"
    return f"{kind}, {_plural(max(int(age), 0), 'year')} old"


def _occupants(f):
    n = f["occupants"]
    return "occupants not recorded" if _missing(n) else f"{_plural(int(n), 'occupant')}"


def _time(f):
    if _missing(f["local_hour"]) or _missing(f["local_weekday"]):
        return "local time at the port not known (no time zone for the port)"
    hour = int(f["local_hour"])  # the feature is the hour: say the hour, not a minute
    return (f"crossing between {hour:02d}:00 and {hour:02d}:59 local time on a "
            f"{WEEKDAYS[int(f['local_weekday'])]}")


def _origin(f):
    juris = f.get("plate_jurisdiction")
    return "plate jurisdiction not recorded" if _missing(juris) else f"plate issued in {juris}"


def _rate(f):
    per_day = f["plate_out_per_day"]
    if _missing(per_day):
        return "no crossing rate: plate never seen before"
    if per_day == 0:
        return "no outbound crossing since the plate was first seen"
    return f"{per_day:.1f} outbound crossings a day since the plate was first seen"


def _usual_turnaround(f):
    ratio = f["plate_turnaround_ratio"]
    if _missing(ratio):
        return "no usual time between crossings on record for this plate"
    after = f"left {_duration(f['plate_hours_since_inbound'])} after entering"
    if ratio < 1:
        return f"{after}, {ratio:.2f} of the plate's usual time between crossings"
    return f"{after}, {ratio:.1f} times the plate's usual time between crossings"


def _burst(f):
    week, month = _n(f["plate_out_7d"]), _n(f["plate_out_30d"])
    if not month:
        return "no outbound crossing in 30 days"
    return (f"{_plural(week, 'outbound crossing')} in the last 7 days "
            f"of {month} in the last 30 days")


def _registration_first_seen(f):
    days = f["registration_age_first_seen"]
    if _missing(days):
        return "registration age when the plate was first seen not known"
    if days < 0:
        return "plate seen before its current registration"
    return f"registration {_plural(int(days), 'day')} old when the plate was first seen"


def _referrals(f):
    n = _n(f["plate_prior_referrals"])
    return (f"referred to secondary {_plural(n, 'time')} before" if n
            else "never referred to secondary before")


def _usual_hour(f):
    share = f["port_hour_share_7d"]
    if _missing(share):
        return "no recent crossings at this port to compare the hour with"
    return (f"{share:.0%} of the port's outbound crossings in 7 days came within an hour "
            "of this time of day")


def _convoy(f):
    n = _n(f["plate_convoy_partners"])
    if not n:
        return ("no plate seen leaving with this one in the last 7 days left just ahead "
                "of it")
    return (f"{_plural(n, 'plate')} seen leaving with this one in the last 7 days left in "
            "the 10 minutes ahead of it")


#: (group, member features, wording); a group worded None is never a reason: its
#: value is the same for every crossing at the port
GROUPS = (
    ("turnaround", ("plate_hours_since_inbound", "plate_inbound_other_port"), _turnaround),
    ("frequency", ("plate_out_24h", "plate_out_7d", "plate_out_30d", "plate_in_30d",
                   "plate_hours_since_outbound"), _frequency),
    ("registration", ("registration_age_days",), _registration),
    ("plate_newness", ("plate_days_since_first_seen",), _newness),
    ("ports_used", ("plate_ports_used",), _ports),
    ("plate_record", ("plate_prior_inspections", "plate_prior_seizures"), _plate_record),
    ("carrier", ("carrier_out_7d", "carrier_out_30d", "carrier_days_since_first_seen",
                 "carrier_prior_inspections", "carrier_prior_seizures"), _carrier),
    ("load", ("trailer_empty", "manifest_value_usd"), _load),
    ("vehicle", ("vehicle_class", "body_type", "vehicle_make", "vehicle_age_years"), _vehicle),
    ("occupants", ("occupants",), _occupants),
    ("time", ("local_hour", "local_weekday"), _time),
    ("port", ("port_code",), None),
    ("plate_origin", ("plate_country", "plate_jurisdiction"), _origin),
    ("crossing_rate", ("plate_out_per_day",), _rate),
    ("usual_turnaround", ("plate_turnaround_ratio",), _usual_turnaround),
    ("burst", ("plate_burst_7_30",), _burst),
    ("registration_first_seen", ("registration_age_first_seen",), _registration_first_seen),
    ("referrals", ("plate_prior_referrals",), _referrals),
    ("usual_hour", ("port_hour_share_7d",), _usual_hour),
    ("convoy", ("plate_convoy_partners",), _convoy),
)


#: what each wording reads: its group's features and the values it quotes (a test checks
#: that a wording reads nothing else), so that batch scoring words each distinct
#: combination once (:func:`reason_lines`)
READS = {
    "turnaround": ("plate_hours_since_inbound", "plate_inbound_other_port",
                   LAST_INBOUND_PORT, "port_code"),
    "frequency": ("plate_out_24h", "plate_out_7d", "plate_out_30d"),
    "registration": ("registration_age_days",),
    "plate_newness": ("plate_days_since_first_seen",),
    "ports_used": ("plate_ports_used",),
    "plate_record": ("plate_prior_seizures", "plate_prior_inspections"),
    "carrier": ("carrier_out_30d", "carrier_prior_seizures", "carrier_days_since_first_seen",
                "carrier_out_7d"),
    "load": ("trailer_empty", "manifest_value_usd"),
    "vehicle": ("body_type", "vehicle_class", "vehicle_age_years"),
    "occupants": ("occupants",),
    "time": ("local_hour", "local_weekday"),
    "port": (),
    "plate_origin": ("plate_jurisdiction",),
    "crossing_rate": ("plate_out_per_day",),
    "usual_turnaround": ("plate_turnaround_ratio", "plate_hours_since_inbound"),
    "burst": ("plate_out_7d", "plate_out_30d"),
    "registration_first_seen": ("registration_age_first_seen",),
    "referrals": ("plate_prior_referrals",),
    "usual_hour": ("port_hour_share_7d",),
    "convoy": ("plate_convoy_partners",),
}


def group_matrix(features):
    """0/1 matrix, shape (len(features), len(GROUPS)), that sums contributions by group.

    The column of a group that is never a reason (worded None) stays 0, so it never
    rises and :func:`top_groups` never picks it.
    """
    index = {name: i for i, name in enumerate(features)}
    matrix = np.zeros((len(features), len(GROUPS)))
    for g, (_, members, wording) in enumerate(GROUPS):
        if wording is None:
            continue
        for name in members:
            if name in index:
                matrix[index[name], g] = 1.0
    missing = set(features) - {m for _, members, _ in GROUPS for m in members}
    if missing:
        raise ValueError(f"features without a reason group: {sorted(missing)}")
    return matrix


def top_groups(contributions, matrix, top=3):
    """Indices of the ``top`` groups that raised each score most (-1 where fewer rose).

    Parameters
    ----------
    contributions : array, shape (n, n_features)
    matrix : array from :func:`group_matrix`

    Returns
    -------
    array of int, shape (n, top)
    """
    if np.ndim(contributions) == 1:  # one crossing (the service): plain 1-d numpy
        grouped = contributions @ matrix
        order = np.argsort(-grouped, kind="stable")[:top]
        return np.where(grouped[order] > 0, order, -1)[None, :]
    grouped = np.atleast_2d(contributions) @ matrix
    if np.isfinite(grouped).all() and top < grouped.shape[1]:
        # the stable sort's first ``top``, one smallest at a time (first among equals)
        rest = -grouped
        order = np.empty((len(grouped), top), dtype=np.int64)
        rows = np.arange(len(grouped))
        for k in range(top):
            order[:, k] = np.argmin(rest, axis=1)
            rest[rows, order[:, k]] = np.inf
    else:
        order = np.argsort(-grouped, axis=1, kind="stable")[:, :top]
    positive = np.take_along_axis(grouped, order, axis=1) > 0
    return np.where(positive, order, -1)


def explain(features, groups):
    """Reasons in words for one crossing.

    Parameters
    ----------
    features : mapping
        The crossing's feature values (before encoding), incl. ``plate_last_inbound_port``.
    groups : sequence of int
        From :func:`top_groups`.

    Returns
    -------
    list of dict
        ``{"factor": group name, "text": wording}``, strongest first; a crossing
        whose score no factor raised gets one entry saying so.
    """
    return _found([(g, GROUPS[g][2](features)) for g in groups if g >= 0])


def _found(worded):
    """:func:`explain`'s list from (group, text) pairs, strongest first."""
    reasons = [{"factor": GROUPS[g][0], "text": text} for g, text in worded]
    return reasons or [{"factor": "none", "text": NOTHING_STANDS_OUT}]


def _shown(reasons, referred):
    """The texts a crossing shows: a referred crossing's with :func:`with_selection`."""
    return [r["text"] for r in (with_selection(reasons) if referred else reasons)]


def reason_lines(values, groups, refer):
    """Reasons in words of every crossing of a batch, as batch scoring writes them: the
    texts of :func:`explain` (a referred crossing's with :func:`with_selection`)
    joined by "; ".

    The same wordings and the same rule as one crossing's, called once per distinct
    input: a wording once per distinct combination of the values it reads
    (:data:`READS`; floats told apart by their bits), the rule once per shape of
    line (which places hold a reason, referred or not) on stand-ins for the texts.

    Parameters
    ----------
    values : DataFrame or mapping
        Column name to a Series or an array of shape (n,): at least every name in
        :data:`READS`.
    groups : array of int, shape (n, top)
        From :func:`top_groups`.
    refer : array of bool, shape (n,)

    Returns
    -------
    array of str (object), shape (n,)

    Examples
    --------
    >>> reason_lines(feats, top_groups(contributions, matrix), refer)  # doctest: +SKIP
    """
    pinned = _PINNED_NAMES.set(port_names())
    try:
        return _reason_lines(values, np.asarray(groups), refer)
    finally:
        _PINNED_NAMES.reset(pinned)


def _reason_lines(values, groups, refer):
    n, top = groups.shape
    if not n:
        return np.empty(0, dtype=object)
    texts = []                                   # every distinct text, any group's
    text_of = np.full((n, top), -1, dtype=np.int64)
    # the (row, place) cells of each group, from one sort of all of them
    flat = groups.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(GROUPS) + 1))
    for g, (name, _, wording) in enumerate(GROUPS):
        rows, places = np.divmod(order[bounds[g]:bounds[g + 1]], top)  # one place a row
        if not len(rows):
            continue
        reads = READS[name]
        code, first = _distinct([_take(values[c], rows) for c in reads])
        picked = {c: _take(values[c], rows[first]).tolist() for c in reads}
        text_of[rows, places] = len(texts) + code
        texts.extend(wording(dict(zip(reads, one))) for one in zip(*picked.values()))
    referred = np.asarray(refer, dtype=bool)
    shape, first = _distinct([text_of[:, k] >= 0 for k in range(top)] + [referred])
    shown = []
    for i in first:
        # the rule (explain, with_selection) once per shape of line, on stand-ins for
        # the texts: a stand-in is its place, any other text is the rule's own
        places = [k for k in range(top) if text_of[i, k] >= 0]
        stand_ins = {f"place {k}": k for k in places}
        shown.append([stand_ins.get(text, text) for text in _shown(
            _found([(groups[i, k], f"place {k}") for k in places]), bool(referred[i]))])
    # each line's texts by their number in one table (the wordings', then the rule's
    # own), -1 where a line has fewer; then joined by "; " in arrow, all lines at once
    own = list(dict.fromkeys(t for line in shown for t in line if isinstance(t, str)))
    parts = np.full((n, max(map(len, shown))), -1, dtype=np.int64)
    for s, line in enumerate(shown):
        rows = np.flatnonzero(shape == s)
        for j, item in enumerate(line):
            parts[rows, j] = (text_of[rows, item] if not isinstance(item, str)
                              else len(texts) + own.index(item))
    table = pa.array(texts + own, type=pa.large_string())
    columns = [table.take(pa.array(parts[:, j], mask=parts[:, j] < 0))
               for j in range(parts.shape[1])]
    lines = (columns[0] if len(columns) == 1 else
             pc.binary_join_element_wise(*columns, pa.scalar("; ", pa.large_string()),
                                         null_handling="skip"))
    return np.asarray(lines.to_numpy(zero_copy_only=False), dtype=object)


def _take(column, rows):
    """``column[rows]``, of an array or a Series (arrow text stays arrow)."""
    if isinstance(column, pd.Series):
        return column.iloc[rows]
    return np.asarray(column)[rows]


def _distinct(columns):
    """Codes of the distinct rows of ``columns`` (arrays of one length), 0..m-1 in order
    of first appearance, and each code's first row. Floats are compared by their bits
    (0.0 and -0.0 apart; any NaN of a column alike); None and NaN of an object column
    alike (the wordings treat them alike)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        if not isinstance(column, pd.Series) or column.dtype.kind == "f":
            column = np.asarray(column)
        if column.dtype.kind == "f":
            column = np.where(np.isnan(column), np.nan, column).view(np.int64)
        codes, uniques = pd.factorize(column)
        key, _ = pd.factorize(key * (len(uniques) + 1) + (codes + 1))
    _, first = np.unique(key, return_index=True)
    return key, first


def with_selection(reasons):
    """A referred crossing's reasons: its two strongest, then :data:`SELECTED`.

    Of three reasons the weakest gives its place; fewer keep theirs, and "nothing
    raised the score" never stands beside a referral.

    Parameters
    ----------
    reasons : list of dict
        From :func:`explain`, strongest first.

    Returns
    -------
    list of dict
        The two strongest factors (none when nothing raised the score), then
        :data:`SELECTED`: one to three reasons, the same for every kind of pick.

    >>> with_selection([{"factor": "none", "text": NOTHING_STANDS_OUT}])
    [{'factor': 'selection', 'text': 'selected for inspection'}]
    """
    return [r for r in reasons if r["factor"] != "none"][:2] + [dict(SELECTED)]
