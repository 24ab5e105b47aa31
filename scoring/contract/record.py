"""One crossing at a time: the service's execution of the contract.

:func:`parse_record` checks a crossing sent to the service and :func:`parse_value`
one of its fields; each column's kind is checked by its :data:`~scoring.contract.kinds.KINDS`
entry's ``one``, as a log's is by its ``many``. The canonical form:

- ``crossed_at`` as UTC microseconds since the epoch (int) plus ``utc_offset_min``,
  the offset the timestamp was written with (int);
- numbers and booleans as float (booleans 1.0 / 0.0), NaN when unknown;
- text and enumerations as ``str``, ``None`` when unknown.
"""
from __future__ import annotations

import math
import numbers

from scoring.contract.columns import (BY_NAME, CERTAIN_REFERRALS, COLUMNS, TEXT_KINDS,
                                      ContractError, expects, show_value)
from scoring.contract.kinds import KINDS
from scoring.contract.rules import row_problem
from scoring.contract.timestamps import parse_timestamp


def _parse_scalar(column, value):
    """Return the canonical value of one cell (None when empty), or raise ValueError."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        if column.kind != "bool":
            raise ValueError(f"is not {expects(column)}")
        return 1.0 if value else 0.0
    if not isinstance(value, (str, numbers.Number)):  # a list, an object: never a cell
        raise ValueError(f"is not {expects(column)}")
    try:
        text = str(value).strip()
    except ValueError:  # an int of more than 4,300 digits
        raise ValueError(f"is not {expects(column)}") from None
    if text == "":
        return None
    return KINDS[column.kind].one(column, text)


def parse_value(name, value, *, source="request", show=show_value):
    """Check one column's value; return it canonical (None / NaN when empty).

    ``crossed_at`` gives its UTC µs (its offset is :func:`parse_timestamp`'s to give).

    >>> parse_value("inspected", "true")
    1.0
    """
    column = BY_NAME[name]
    try:
        parsed = _parse_scalar(column, value)
    except ValueError as exc:
        raise ContractError(f"value {show(value)} {exc}", source=source, column=name,
                            value=value) from None
    if parsed is None:
        return None if column.kind in TEXT_KINDS else math.nan
    return parsed


def parse_record(record, *, source="request", show=show_value):
    """Check one crossing (a mapping of column to value) and return its canonical dict.

    Unknown keys are ignored. Raises :class:`ContractError` naming the field; ``show``
    spells the value in its message (:func:`show_json` for a request's JSON).

    >>> r = parse_record({"crossing_id": "c1", "crossed_at": "2025-01-06T08:00:00Z",
    ...     "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
    ...     "plate_id": "p1"})
    >>> r["crossed_at"], r["utc_offset_min"], r["occupants"]
    (1736150400000000, 0, nan)
    """
    if not isinstance(record, dict):
        raise ContractError("a crossing must be a JSON object", source=source)
    out = {}
    for column in COLUMNS:
        value = record.get(column.name)
        if column.kind == "timestamp":  # two canonical fields; any value is read as text
            if value is None or str(value).strip() == "":
                raise ContractError("is required", source=source, column=column.name)
            try:
                out["crossed_at"], out["utc_offset_min"] = parse_timestamp(str(value))
            except ValueError as exc:
                raise ContractError(f"value {show(value)} is {exc}", source=source,
                                    column=column.name, value=value) from None
            continue
        try:
            parsed = _parse_scalar(column, value)
        except ValueError as exc:
            raise ContractError(f"value {show(value)} {exc}", source=source,
                                column=column.name, value=value) from None
        if parsed is None:
            if column.required:
                raise ContractError("is required", source=source, column=column.name)
            parsed = None if column.kind in TEXT_KINDS else math.nan
        out[column.name] = parsed
    problem = row_problem(out)
    if problem:
        name, message = problem
        value = record.get(name)
        raise ContractError(f"value {show(value)}: {message}", source=source, column=name,
                            value=value)
    if out["referral"] in CERTAIN_REFERRALS:  # the contract fixes its probability
        out["selection_probability"] = 1.0
    return out
