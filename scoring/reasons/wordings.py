"""Each reason group's wording: a crossing's own values in an officer's words.

:data:`GROUPS` declares the groups (name, member features, wording) and
:data:`READS` what each wording reads, so that batch scoring words each distinct
combination of values once (:func:`scoring.reasons.lines.reason_lines`).
"""
from __future__ import annotations

import contextvars
import math
from functools import lru_cache

from scoring.features import LAST_INBOUND_PORT
from scoring.paths import extra_ports_file
from scoring.ports import port_table

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def port_names():
    """Port code to name: the port table (shipped, plus ``$SOUTHBOUND_PORTS_FILE``), or
    the table a batch's wording pinned when it began
    (:func:`~scoring.reasons.lines.reason_lines`)."""
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


def _hour_share(share, whose, days, unseen):
    """An hour-share feature in words: of whose crossings, over how many days."""
    if _missing(share):
        return unseen
    return (f"{share:.0%} of {whose} outbound crossings in {days} days came within an hour "
            "of this time of day")


def _usual_hour(f):
    return _hour_share(f["port_hour_share_7d"], "the port's", 7,
                       "no recent crossings at this port to compare the hour with")


def _plate_usual_hour(f):
    return _hour_share(f["plate_hour_share_14d"], "this plate's", 14,
                       "no outbound crossings of this plate in 14 days to compare the hour "
                       "with")


def _plate_usual_port(f):
    share = f["plate_port_share"]
    if _missing(share):
        return "plate never seen before: no usual port"
    if share == 0:
        return f"first crossing of this plate at {port_name(f['port_code'])}"
    return f"{share:.0%} of this plate's earlier crossings were at {port_name(f['port_code'])}"


def _value_share(name, whose, none_of):
    """The wording of a ``value_share`` feature: ``whose`` earlier declared loads."""
    def wording(f):
        share = f[name]
        if _missing(share):
            return f"no declared load value of {none_of} to compare with"
        return (f"{share:.0%} of {whose} earlier declared loads were worth about as much as "
                "this one")
    return wording


_carrier_value = _value_share("carrier_value_share", "the carrier's", "this carrier's")
_plate_value = _value_share("plate_value_share", "this truck's", "this truck's")


def _unusual_loads(f):
    n = _n(f["plate_unusual_loads"])
    if not n:
        return "no earlier load of this truck unusual for its carrier"
    return (f"{_plural(n, 'earlier load')} of this truck declared at a value unusual for "
            "its carrier")


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
    ("plate_usual_hour", ("plate_hour_share_14d",), _plate_usual_hour),
    ("plate_usual_port", ("plate_port_share",), _plate_usual_port),
    ("carrier_value", ("carrier_value_share",), _carrier_value),
    ("plate_value", ("plate_value_share",), _plate_value),
    ("unusual_loads", ("plate_unusual_loads",), _unusual_loads),
)


#: what each wording reads: its group's features and the values it quotes (a test checks
#: that a wording reads nothing else), so that batch scoring words each distinct
#: combination once (:func:`~scoring.reasons.lines.reason_lines`)
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
    "plate_usual_hour": ("plate_hour_share_14d",),
    "plate_usual_port": ("plate_port_share", "port_code"),
    "carrier_value": ("carrier_value_share",),
    "plate_value": ("plate_value_share",),
    "unusual_loads": ("plate_unusual_loads",),
}
