"""The crossing log's columns, version 1: their table, the values they allow, what a
message says each takes, and the error every check raises.

See ``../shared/contract/crossing-log.md``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

VERSION = 1

DIRECTIONS = ("outbound", "inbound")
VEHICLE_CLASSES = ("personal", "truck", "bus")
BODY_TYPES = ("sedan", "suv", "pickup", "van", "motorcycle", "tractor_trailer",
              "box_truck", "bus", "other")
REFERRALS = ("none", "model", "random", "explore", "lookout", "officer")
#: referrals whose selection probability the contract fixes: a lookout always refers
CERTAIN_REFERRALS = ("lookout",)
OUTCOME_COLUMNS = ("referral", "selection_probability", "inspected", "seizure",
                   "firearms_seized", "rounds_seized", "currency_seized_usd")
#: what secondary found: more than 0 only where a seizure was made
SEIZED_AMOUNTS = ("firearms_seized", "rounds_seized", "currency_seized_usd")
#: the years a timestamp may have (:data:`~scoring.contract.timestamps.TIMESTAMP_PATTERN`'s)
YEARS = (1900, 2199)
#: a model year may be at most this many years after the year of the crossing
MODEL_YEAR_AHEAD = 1
#: the longest value quoted whole in a message
_SHOW_CHARS = 80


class ContractError(ValueError):
    """A value that breaks the crossing-log contract.

    ``str(error)`` is the one line a user sees: where, which column, which value,
    and what is allowed.
    """

    def __init__(self, message, *, source=None, row=None, column=None, value=None):
        self.message = message
        self.source = source
        self.row = row
        self.column = column
        self.value = value
        super().__init__(str(self))

    def __str__(self):
        where = [str(self.source)] if self.source else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def show_value(value):
    """``repr(value)`` for a message about a log's cell: one line, at most about 80
    characters."""
    if isinstance(value, str) and len(value) > _SHOW_CHARS:
        return repr(value[:_SHOW_CHARS]) + f"... ({len(value):,} characters)"
    try:
        text = repr(value)
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."


def show_json(value):
    """``value`` as JSON spells it, for a message about a request's field (``true``,
    ``null``, ``"2304"``; ``NaN`` for what Python's JSON reader makes of ``NaN``): one
    line, at most about 80 characters."""
    if isinstance(value, str) and len(value) > _SHOW_CHARS:
        return json.dumps(value[:_SHOW_CHARS], ensure_ascii=False) + f"... ({len(value):,} characters)"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"
    except TypeError:
        text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."


@dataclass(frozen=True)
class Column:
    """One column of the contract: its name, kind, whether it is required, the values
    it allows (an enumeration's), its plausible range ``bounds`` (low, high; both
    included), help."""

    name: str
    kind: str
    required: bool = False
    allowed: tuple = ()
    help: str = ""
    bounds: tuple = ()


COLUMNS = (
    Column("crossing_id", "id", True, help="unique id of this crossing event"),
    Column("crossed_at", "timestamp", True, help="ISO-8601 with UTC offset"),
    Column("direction", "enum", True, DIRECTIONS),
    Column("port_code", "port", True, help="4-digit CBP port code"),
    Column("vehicle_class", "enum", True, VEHICLE_CLASSES),
    Column("body_type", "enum", False, BODY_TYPES),
    Column("plate_id", "id", True, help="pseudonymous plate id"),
    Column("plate_jurisdiction", "jurisdiction", False),
    Column("vehicle_make", "text", False),
    # plausible ranges: a model year from 1900 to the crossing's year + 1
    # (MODEL_YEAR_AHEAD; the bound here is the last year a timestamp may have + 1),
    # a registration up to 100 years old, 200 people (a coach seats up to ~90; an
    # articulated bus with standing room carries up to ~200; a log made by others
    # counts 81 on board its buses)
    Column("vehicle_model_year", "int", False, bounds=(1900, YEARS[1] + MODEL_YEAR_AHEAD)),
    Column("registration_age_days", "count", False, bounds=(0, 36_525)),
    Column("occupants", "positive", False, bounds=(1, 200)),
    Column("carrier_id", "id", False),
    Column("trailer_empty", "bool", False),
    Column("manifest_value_usd", "amount", False),
    Column("referral", "enum", False, REFERRALS),
    Column("selection_probability", "probability", False),
    Column("inspected", "bool", False),
    Column("seizure", "bool", False),
    # hard caps (OUTCOME_CAPS): more is a typing slip or a forged record, never a seizure
    # to learn from; refused where a log is read and where an outcome is recorded
    Column("firearms_seized", "count", False, bounds=(0, 10_000)),
    Column("rounds_seized", "count", False, bounds=(0, 10_000_000)),
    Column("currency_seized_usd", "amount", False, bounds=(0, 100_000_000)),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
#: the largest seized amounts taken: the columns' upper bounds
OUTCOME_CAPS = {c.name: c.bounds[1] for c in COLUMNS if c.name in SEIZED_AMOUNTS}
#: a recorded outcome with an amount from these up is taken and flagged for review
OUTCOME_REVIEW = {"firearms_seized": 50, "rounds_seized": 50_000,
                  "currency_seized_usd": 1_000_000}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
BY_NAME = {c.name: c for c in COLUMNS}
#: kinds whose canonical value is a ``str`` (``None`` when unknown; NaN in a frame)
TEXT_KINDS = ("id", "enum", "port", "jurisdiction", "text")
#: what a value of each kind is, in a message ("enum" lists its column's values)
_WORDS = {
    "id": "a non-empty string",
    "port": "a 4-digit port code",
    "jurisdiction": "an ISO 3166-2 code such as US-TX or MX-SON, or UNK",
    "text": "a string",
    "int": "an integer",
    "count": "an integer >= 0",
    "positive": "an integer >= 1",
    "amount": "a number >= 0",
    "probability": "a number in (0, 1]",
    "bool": "true or false",
    "timestamp": f"an ISO-8601 timestamp with a UTC offset (years {YEARS[0]}-{YEARS[1]})",
}


def describe(kind, allowed=(), bounds=()):
    """What a value of ``kind`` is, in words: "a 4-digit port code", "one of a, b",
    "an integer from 1 to 200"."""
    if bounds:
        return f"{'an integer' if kind in ('int', 'count', 'positive') else 'a number'} " \
               f"from {bounds[0]} to {bounds[1]}"
    if kind == "enum":
        return "one of " + ", ".join(allowed)
    return _WORDS[kind]


def expects(column):
    """What a message says ``column`` takes: "an integer from 1 to 200", "true or false"."""
    if column.name == "vehicle_model_year":  # its bound is the crossing's year + 1
        return f"an integer from {column.bounds[0]} to the crossing's year + {MODEL_YEAR_AHEAD}"
    return describe(column.kind, column.allowed, column.bounds)
