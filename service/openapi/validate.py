"""Request bodies checked against the document's own schemas.

The request bodies' schemas are also what the API enforces: :func:`check_body`
checks a body's fields against them before the contract's own checks, so a value
the document does not allow is a 400 naming the field, and the document never
promises more than the service takes (``tests/test_schemathesis.py`` fuzzes it).
Values are JSON's types as the document declares them: a string is never a number
or a boolean (``"2"`` for ``occupants`` is refused, as ``2304`` for ``port_code``),
and a number with a zero fraction is an integer (``2.0``), as JSON Schema reads it
since draft 6 (2020-12 included). Messages spell values as JSON does.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

from scoring.contract import COLUMNS, TIMESTAMP_PATTERN, show_json, timestamp_fault
from service.errors import ApiError
from service.openapi.schemas import components, expectations, ports_in_force
from service.store import INT_MAX, INTEGER_KINDS

_JSON_TYPES = {"string": (str,), "integer": (int, float), "number": (int, float),
               "boolean": (bool,), "object": (dict,), "array": (list,)}


@lru_cache(maxsize=None)
def _regex(pattern):
    return re.compile(pattern)


def _compile(schema):
    """``schema`` as a predicate: whether a parsed JSON value fits it (the keywords this
    document uses), its keywords read once so a request pays only for the tests that apply."""
    if "anyOf" in schema:
        branches = tuple(_compile(branch) for branch in schema["anyOf"])
        return lambda value: any(branch(value) for branch in branches)
    null_ok = bool(schema.get("nullable")) and None in schema.get("enum", [None])
    kind = schema.get("type")
    types = _JSON_TYPES[kind] if kind is not None else None
    bool_ok = kind in (None, "boolean")
    enum = schema.get("enum")
    min_length, max_length = schema.get("minLength", 0), schema.get("maxLength")
    pattern = _regex(schema["pattern"]).search if "pattern" in schema else None
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    exclusive_min, exclusive_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")

    def check(value):
        if value is None:
            return null_ok
        if isinstance(value, bool) and not bool_ok:
            return False
        if types is not None and not isinstance(value, types):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if kind == "integer" and isinstance(value, float) and not value.is_integer():
            return False
        if enum is not None and value not in enum:
            return False
        if isinstance(value, str):
            if len(value) < min_length or (max_length is not None and len(value) > max_length):
                return False
            if pattern is not None and not pattern(value):
                return False
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if minimum is not None and (value < minimum
                                        or (exclusive_min and value == minimum)):
                return False
            if maximum is not None and (value > maximum
                                        or (exclusive_max and value == maximum)):
                return False
        return True
    return check


def check_body(name, body, prefix=""):
    """A 400 naming the first field of ``body`` (a dict) that its documented schema refuses.

    Fields absent from the body are left to the contract's checks ("is required");
    fields the document does not name are ignored (:func:`unknown_fields` names them).
    A port code the port table lacks is a 400 ``unknown_port``; a number or boolean
    where the document wants a string is told that it must be a string.
    """
    ports = ports_in_force()
    for field, check in _checks(name, ports):
        if field in body and not check(body[field]):
            raise _refusal(name, field, body[field], prefix, ports)


def unknown_fields(name, body, prefix=""):
    """The fields of ``body`` that the document's schema ``name`` does not name, in order."""
    known = _properties(name, ports_in_force())
    return [prefix + str(field) for field in body if field not in known]


def check_integers(record, prefix=""):
    """A 400 for a contract integer the store cannot hold (|value| above :data:`INT_MAX`).

    The document says so for JSON numbers; this is the store's own guard behind it.
    """
    for column in COLUMNS:
        value = record.get(column.name)
        if column.kind in INTEGER_KINDS and isinstance(value, float) and abs(value) > INT_MAX:
            raise ApiError(400, "invalid_value",
                           f"value {show_json(value)} is more than the store holds "
                           f"(at most {INT_MAX})", prefix + column.name)


_JSON_NAMES = ((bool, "true or false"), (str, "a string"), ((int, float), "a number"),
               (dict, "an object"), (list, "an array"))
#: a declared JSON type, as a message names it
_TYPE_NAMES = {"boolean": "a JSON boolean", "integer": "a JSON number",
               "number": "a JSON number"}


def _refusal(name, field, value, prefix, ports):
    """The 400 for a refused field: unknown port, a value of another JSON type than the
    document declares (a number for a string, a string for a number or a boolean), a
    timestamp outside the contract's years, or any other."""
    prop = _properties(name, ports)[field]
    expected = expectations().get((name, field)) or prop.get("description", "as documented")
    shown = show_json(value)
    if field == "port_code" and isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value):
        return ApiError(400, "unknown_port",
                        f"value {shown} is not a port of the port table "
                        f"({len(ports)} ports; a site adds its own with SOUTHBOUND_PORTS_FILE)",
                        prefix + field)
    what = next((text for types, text in _JSON_NAMES if isinstance(value, types)), None)
    if field in _string_fields(name, ports) and not isinstance(value, str) and value is not None:
        return ApiError(400, "invalid_value",
                        f"value {shown} is {what}: {field} must be a string, {expected}",
                        prefix + field)
    if prop.get("type") in _TYPE_NAMES and isinstance(value, str):
        return ApiError(400, "invalid_value",
                        f"value {shown} is a string: {field} must be {expected} "
                        f"({_TYPE_NAMES[prop['type']]}, not text)", prefix + field)
    if TIMESTAMP_PATTERN in prop.get("pattern", "") and isinstance(value, str) \
            and timestamp_fault(value).startswith("outside"):  # well formed, but year 1800
        return ApiError(400, "invalid_value", f"value {shown} is {timestamp_fault(value)}",
                        prefix + field)
    return ApiError(400, "invalid_value", f"value {shown} is not {expected}", prefix + field)


@lru_cache(maxsize=None)
def _properties(name, ports):
    """The properties of the document's schema ``name`` for the port table ``ports``."""
    return components(ports)[name]["properties"]


@lru_cache(maxsize=None)
def _string_fields(name, ports):
    """Fields of schema ``name`` whose values must be non-empty strings when given."""
    out = set()
    for field, schema in _properties(name, ports).items():
        allowed = schema.get("enum")
        if schema.get("type") == "string" and (allowed is None
                                               or any(v not in ("", None) for v in allowed)):
            out.add(field)
    return frozenset(out)


@lru_cache(maxsize=None)
def _checks(name, ports):
    """(field, predicate) for each property of the document's schema ``name``."""
    return tuple((field, _compile(schema)) for field, schema in _properties(name, ports).items())

