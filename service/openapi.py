"""The OpenAPI 3 document of API v1, built from the contract's column table.

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

from flask import current_app, has_app_context

from scoring.contract import (COLUMNS, OUTCOME_COLUMNS, TEXT_KINDS, TIMESTAMP_PATTERN, expects,
                              show_json, timestamp_fault)
from scoring.ports import known_ports
from service.auth import ROLES
from service.errors import ApiError
from service.store import INT_MAX, INTEGER_KINDS

#: the store keeps ids and free text in 128-character columns (and integers in 32 bits)
TEXT_MAX = 128
#: ISO-8601 with a UTC offset, years 1900-2199: the contract's own pattern
TIMESTAMP = f"^{TIMESTAMP_PATTERN}$"

# kind -> (schema of its JSON value, what a message says is expected)
_KIND = {
    "id": ({"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
           f"a non-empty string of at most {TEXT_MAX} characters"),
    "text": ({"type": "string", "maxLength": TEXT_MAX},
             f"a string of at most {TEXT_MAX} characters"),
    "port": ({"type": "string", "pattern": r"^[0-9]{4}$"}, "a 4-digit port code"),
    "jurisdiction": ({"type": "string", "pattern": r"^(UNK|[A-Z]{2}-[A-Z0-9]{1,3})$"},
                     "an ISO 3166-2 code such as US-TX or MX-SON, or UNK"),
    "timestamp": ({"type": "string", "pattern": TIMESTAMP},
                  "an ISO-8601 timestamp with a UTC offset, such as 2025-03-04T17:22:05-06:00"),
    "int": ({"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX}, "an integer"),
    "count": ({"type": "integer", "minimum": 0, "maximum": INT_MAX}, "an integer >= 0"),
    "positive": ({"type": "integer", "minimum": 1, "maximum": INT_MAX}, "an integer >= 1"),
    "amount": ({"type": "number", "minimum": 0}, "a number >= 0"),
    "bool": ({"type": "boolean"}, "true or false"),
}
#: said of every integer field: what JSON Schema takes as an integer
_INTEGER_NOTE = "a JSON integer; a number with a zero fraction (2.0) is taken as one"


def _column_schema(column, required=None, ports=None):
    """The schema of one column's value in a request, and what a message says it expects.

    The message names the value's kind and range only ("an integer from 1 to 60"): that
    null would also do is the document's to say, not a booth error's. The range is the
    contract's (``Column.bounds``), the one the log reader checks too.
    ``ports``: the port table's codes, the only port codes a request may name.
    """
    required = column.required if required is None else required
    schema, expected = _KIND.get(column.kind, _KIND["text"])
    schema = dict(schema)
    if column.bounds:
        schema.update(minimum=column.bounds[0], maximum=column.bounds[1])
        expected = expects(column)
    if column.kind == "port" and ports is not None:
        schema = {"type": "string", "enum": list(ports)}
    if column.kind == "enum":
        schema = {"type": "string", "enum": list(column.allowed)}
        expected = "one of " + ", ".join(column.allowed)
    if not required:  # null (or, for a string, an empty one) is a missing value
        schema["nullable"] = True
        if "enum" in schema:
            schema["enum"] = schema["enum"] + ["", None]
        if "pattern" in schema:
            schema["pattern"] = f"^({schema['pattern'][1:-1]})?$"
    notes = [column.help] if column.help else []
    if column.name == "vehicle_model_year":
        notes.append(f"at most the year of crossed_at + 1 ({expected})")
    if schema.get("type") == "integer":
        notes.append(_INTEGER_NOTE)
    if notes:
        schema["description"] = "; ".join(notes)
    return schema, expected


_NOT_HERE = {"type": "string", "enum": ["", None], "nullable": True,
             "description": "an outcome: never sent with a crossing "
                            "(POST /v1/crossings/{crossing_id}/outcome records it)"}


def _crossing(direction, ports):
    props = {c.name: _column_schema(c, ports=ports)[0] for c in COLUMNS
             if c.name not in OUTCOME_COLUMNS}
    props["direction"] = {"type": "string", "enum": [direction]}
    props["port_code"]["description"] = (
        "a port of the port table (scoring/data/sw_border_ports.csv and the site's "
        "SOUTHBOUND_PORTS_FILE); another is a 400 unknown_port")
    props.update({name: dict(_NOT_HERE) for name in OUTCOME_COLUMNS})
    return {"type": "object", "required": [c.name for c in COLUMNS if c.required],
            "properties": props, "additionalProperties": True,
            "description": "the crossing-log contract's columns; unknown fields are ignored "
                           "and named back in the answer's ignored_fields"}


def _outcome():
    by_name = {c.name: c for c in COLUMNS}
    props = {"inspected": _column_schema(by_name["inspected"], required=True)[0]}
    props.update({name: _column_schema(by_name[name])[0] for name in
                  ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd")})
    props["seizure"]["description"] = "required when inspected is true, empty otherwise"
    return {"type": "object", "required": ["inspected"], "properties": props,
            "additionalProperties": True,
            "description": "a seized amount above 0 needs inspected and seizure true; unknown "
                           "fields are ignored and named back in ignored_fields"}


_LOOKOUT = {"type": "object", "required": ["plate_id", "reason", "expires_at"],
            "additionalProperties": True,
            "description": "unknown fields are ignored and named back in ignored_fields",
            "properties": {
                "plate_id": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
                "reason": {"type": "string", "minLength": 1},
                "expires_at": {"type": "string", "pattern": TIMESTAMP,
                               "description": "ISO-8601 with a UTC offset, in the future"}}}


@lru_cache(maxsize=1)
def _expectations():
    """(schema name, field) -> what a 400 says the field expects."""
    by_name = {c.name: c for c in COLUMNS}
    out = {}
    for name in ("OutboundCrossing", "InboundCrossing"):
        for column in COLUMNS:
            out[name, column.name] = (
                "empty: outcomes are recorded with POST /v1/crossings/<id>/outcome"
                if column.name in OUTCOME_COLUMNS else _column_schema(column)[1])
    out["OutboundCrossing", "direction"] = "'outbound' (an inbound crossing goes to POST /v1/crossings)"
    out["InboundCrossing", "direction"] = "'inbound' (an outbound crossing goes to POST /v1/score)"
    out["Outcome", "inspected"] = _column_schema(by_name["inspected"], required=True)[1]
    for field in ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd"):
        out["Outcome", field] = _column_schema(by_name[field])[1]
    out["Lookout", "plate_id"] = f"a non-empty string of at most {TEXT_MAX} characters"
    out["Lookout", "reason"] = "a non-empty string"
    out["Lookout", "expires_at"] = _KIND["timestamp"][1]
    return out


# --- enforcing the request schemas -------------------------------------------------

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


def ports_in_force():
    """The port codes requests may name: the app's port table, else the shipped one."""
    if has_app_context() and "southbound.ports" in current_app.extensions:
        return current_app.extensions["southbound.ports"]
    return known_ports()


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
    expected = _expectations().get((name, field)) or prop.get("description", "as documented")
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
    return document_for(ports)["components"]["schemas"][name]["properties"]


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


# --- the document ------------------------------------------------------------------

def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description, headers=None):
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


_ERROR_TEXT = {400: "invalid input; `field` names it (code unknown_port: a port the port "
                    "table lacks; crossed_at more than SOUTHBOUND_MAX_CLOCK_SKEW_SECONDS "
                    "ahead of the server's clock is refused too)", 401: "no or unknown token",
               403: "the token's role may not do this", 404: "not found",
               409: "conflicts with what is stored", 413: "body too large",
               415: "not sent as application/json", 429: "too many requests with this token",
               503: "no model, no database or no readable registry"}


def _errors(*codes):
    out = {}
    for code in codes:
        headers = None
        if code == 429:
            headers = {"Retry-After": {"required": True, "description": "seconds to wait",
                                       "schema": {"type": "integer", "minimum": 1}}}
        out[str(code)] = _json(_ref("Error"), _ERROR_TEXT[code], headers)
    return out


def _authenticated(*codes, body=False):
    """Error answers of a call with a token: 401, 429 (rate limit) and 503 (the token
    is looked up in the database) always; 400, 413 and 415 when it takes a body."""
    extra = (400, 413, 415) if body else ()
    return _errors(*sorted(set(codes) | {401, 429, 503} | set(extra)))


def _object(required, properties, **more):
    return {"type": "object", "required": list(required), "properties": properties, **more}


_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_NULLABLE_INTEGER = {"type": "integer", "nullable": True}
#: present only when the body had fields the document does not name
_IGNORED = {"type": "array", "items": {"type": "string"}, "minItems": 1,
            "description": "the body's fields that are not part of the API and were ignored "
                           "(a misspelt field shows here); present only when there are some"}
_NULLABLE_BOOL = {"type": "boolean", "nullable": True}
_PROBABILITY = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
                "exclusiveMaximum": True}


def _crossing_view():
    props = {}
    for column in COLUMNS:
        if column.kind in TEXT_KINDS or column.kind == "timestamp":
            schema = dict(_STRING)
        elif column.kind == "bool":
            schema = {"type": "boolean"}
        elif column.kind in INTEGER_KINDS:
            schema = {"type": "integer"}
        else:
            schema = {"type": "number"}
        if not column.required:
            schema["nullable"] = True
        props[column.name] = schema
    always = [c.name for c in COLUMNS if c.name not in ("referral", "selection_probability")]
    return _object(always, props, description="referral and selection_probability are shown "
                                              "to analysts only")


_SCHEMAS = {
    "Reason": _object(["factor", "text"], {"factor": _STRING, "text": _STRING}),
    "Score": _object(["crossing_id", "risk_score", "risk_band", "refer", "reasons",
                      "model_version"], {
        "crossing_id": _STRING, "risk_score": _PROBABILITY, "risk_band": _STRING,
        "refer": {"type": "boolean"}, "reasons": {"type": "array", "items": _ref("Reason")},
        "model_version": _STRING, "ignored_fields": _IGNORED}),
    "StoredScore": {"allOf": [_ref("Score"), _object(["scored_at", "policy_version"], {
        "scored_at": _STRING, "policy_version": _STRING,
        "referral_source": {"type": "string", "description": "analysts only"},
        "selection_probability": {"type": "number", "description": "analysts only"},
        "features": {"type": "object", "description": "analysts only"}})]},
    "OutcomeView": _object(
        ["inspected", "seizure", "firearms_seized", "rounds_seized", "currency_seized_usd",
         "recorded_at", "recorded_by"], {
            "inspected": {"type": "boolean"}, "seizure": _NULLABLE_BOOL,
            "firearms_seized": _NULLABLE_INTEGER, "rounds_seized": _NULLABLE_INTEGER,
            "currency_seized_usd": _NULLABLE_NUMBER, "recorded_at": _STRING,
            "recorded_by": _STRING}),
    "CrossingView": _crossing_view(),
    "LaneItem": _object(
        ["crossing_id", "crossed_at", "port_code", "plate_id", "plate_jurisdiction",
         "vehicle_class", "body_type", "vehicle_make", "risk_score", "risk_band", "refer",
         "reasons", "scored_at", "model_version", "outcome"], {
            "crossing_id": _STRING, "crossed_at": _STRING, "port_code": _STRING,
            "plate_id": _STRING, "plate_jurisdiction": _NULLABLE_STRING,
            "vehicle_class": _STRING, "body_type": _NULLABLE_STRING,
            "vehicle_make": _NULLABLE_STRING, "risk_score": _PROBABILITY,
            "risk_band": _STRING, "refer": {"type": "boolean"},
            "reasons": {"type": "array", "items": _ref("Reason")}, "scored_at": _STRING,
            "model_version": _STRING,
            "outcome": _object(["inspected", "seizure"], {
                "inspected": {"type": "boolean"}, "seizure": _NULLABLE_BOOL}, nullable=True)}),
    "LookoutView": _object(["id", "plate_id", "reason", "expires_at", "created_by",
                            "created_at"], {
        "id": {"type": "integer"}, "plate_id": _STRING, "reason": _STRING,
        "expires_at": _STRING, "created_by": _STRING, "created_at": _STRING,
        "ignored_fields": _IGNORED}),
    "Activation": {"type": "object", "properties": {"require_comparison": {
        "type": "boolean", "default": False,
        "description": "refuse (409 comparison_required) unless a comparison of this "
                       "version against the model in service is kept"}}},
    "ShadowScore": _object(["model_version", "risk_score", "threshold", "would_refer",
                            "scored_at"], {
        "model_version": _STRING, "risk_score": _PROBABILITY,
        "threshold": dict(_NULLABLE_NUMBER, description="null where the port's capacity is "
                                                        "0 or everything"),
        "would_refer": {"type": "boolean", "description": (
            "the challenger's score at or above its own threshold for the port's "
            "capacity (its manifest's per-port score quantiles); never acted on")},
        "scored_at": _STRING}),
    "Error": _object(["error"], {"error": _object(["code", "message", "field"], {
        "code": _STRING, "message": _STRING, "field": _NULLABLE_STRING})}),
}


def document():
    """The document served at /v1/openapi.json: with the app's port table in force."""
    return document_for(ports_in_force())


@lru_cache(maxsize=4)
def document_for(ports):
    """The document for the port table ``ports`` (a sorted tuple of codes)."""
    auth = [{"bearer": []}]
    id_param = {"name": "crossing_id", "in": "path", "required": True,
                "schema": {"type": "string"}}
    version_param = {"name": "version", "in": "path", "required": True,
                     "schema": {"type": "string"}}

    def body(schema):
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "Southbound API", "version": "1",
                 "description": "Risk scores, referral decisions and reasons for outbound "
                                "crossings at US-Mexico land ports; inspection outcomes. "
                                "Every error is {\"error\": {\"code\", \"message\", "
                                "\"field\"}}; input never causes a 500."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "OutboundCrossing": _crossing("outbound", ports),
                "InboundCrossing": _crossing("inbound", ports),
                "Outcome": _outcome(),
                "Lookout": _LOOKOUT,
                **_SCHEMAS,
            },
        },
        "paths": {
            "/v1/score": {"post": {
                "summary": "Score one outbound crossing", "security": auth,
                "requestBody": body(_ref("OutboundCrossing")),
                "responses": {"201": _json(_ref("Score"), "scored and stored"),
                              "200": _json(_ref("Score"), "repeated crossing_id: the stored answer"),
                              **_authenticated(409, body=True)}}},
            "/v1/score/batch": {"post": {
                "summary": "Score several outbound crossings (413 over the batch limit)",
                "security": auth,
                "requestBody": body({"type": "object", "required": ["crossings"],
                                     "properties": {"crossings": {
                                         "type": "array", "minItems": 1,
                                         "items": _ref("OutboundCrossing")}}}),
                "responses": {"200": _json(_object(["results"], {
                    "results": {"type": "array", "items": _ref("Score")},
                    "ignored_fields": dict(_IGNORED, description=(
                        "ignored fields of the body and of each crossing "
                        "(crossings[3].lane); present only when there are some"))}),
                    "scored"),
                    **_authenticated(409, body=True)}}},
            "/v1/crossings": {"get": {
                "summary": "Latest scored outbound crossings at a port, by crossing time, newest first",
                "security": auth, "parameters": [
                    {"name": "port_code", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": list(ports)},
                     "description": "a port of the port table (400 unknown_port otherwise)"},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200,
                                "default": 50}}],
                "responses": {"200": _json(_object(["port_code", "crossings"], {
                    "port_code": _STRING,
                    "crossings": {"type": "array", "items": _ref("LaneItem")}}), "the lane"),
                    **_authenticated(400)}},
                "post": {
                "summary": "Store an inbound crossing (history)", "security": auth,
                "requestBody": body(_ref("InboundCrossing")),
                "responses": {"201": _json(_object(["crossing_id", "stored"], {
                    "crossing_id": _STRING, "stored": {"type": "boolean"},
                    "ignored_fields": _IGNORED}), "stored"),
                    "200": _json(_object(["crossing_id", "stored"], {
                        "crossing_id": _STRING, "stored": {"type": "boolean"},
                        "ignored_fields": _IGNORED}), "already stored"),
                    **_authenticated(409, body=True)}}},
            "/v1/crossings/{crossing_id}": {"get": {
                "summary": "A crossing with its score, decision, reasons and outcome",
                "security": auth, "parameters": [id_param],
                "responses": {"200": _json(_object(["crossing", "score", "outcome"], {
                    "crossing": _ref("CrossingView"),
                    "score": {"allOf": [_ref("StoredScore")], "nullable": True},
                    "outcome": {"allOf": [_ref("OutcomeView")], "nullable": True},
                    "outcomes": {"type": "array", "items": _ref("OutcomeView"),
                                 "description": "every outcome recorded; analysts only"},
                    "shadow": {"allOf": [_ref("ShadowScore")], "nullable": True,
                               "description": "the challenger's score of the crossing, if "
                                              "one was in shadow; analysts only"}}),
                    "found"),
                    **_authenticated(404)}}},
            "/v1/crossings/{crossing_id}/outcome": {"post": {
                "summary": "Record what secondary inspection found", "security": auth,
                "parameters": [id_param],
                "requestBody": body(_ref("Outcome")),
                "responses": {"201": _json(_object(["crossing_id", "outcome"], {
                    "crossing_id": _STRING, "outcome": _object(
                        ["inspected", "seizure", "firearms_seized", "rounds_seized",
                         "currency_seized_usd"], {
                            "inspected": {"type": "boolean"}, "seizure": _NULLABLE_BOOL,
                            "firearms_seized": _NULLABLE_INTEGER,
                            "rounds_seized": _NULLABLE_INTEGER,
                            "currency_seized_usd": _NULLABLE_NUMBER}),
                    "ignored_fields": _IGNORED}), "recorded"),
                    **_authenticated(404, 409, body=True)}}},
            "/v1/model": {"get": {
                "summary": "The active model's version and the caller's role; analysts "
                           "and admins also get its manifest and the policy in force",
                "security": auth,
                "responses": {"200": _json(_object(
                    ["version", "role"], {
                        "version": _STRING, "policy_version": _STRING,
                        "manifest": {"type": "object"},
                        "role": {"type": "string", "enum": list(ROLES)}}), "the model"),
                    **_authenticated()}}},
            "/v1/models": {"get": {
                "summary": "Registered model versions", "security": auth,
                "responses": {"200": _json(_object(["active", "shadow", "versions"], {
                    "active": _NULLABLE_STRING,
                    "shadow": dict(_NULLABLE_STRING, description="the challenger in shadow"),
                    "rollback_to": dict(_NULLABLE_STRING, description=(
                        "the version POST /v1/models/rollback would serve again")),
                    "versions": {"type": "array", "items": _object(
                        ["version", "active", "shadow"], {
                            "version": _STRING, "created_at": _NULLABLE_STRING,
                            "excluded_features": {"type": "array"},
                            "windows": {"type": "object", "nullable": True,
                                        "description": "the training window"},
                            "active": {"type": "boolean"},
                            "shadow": {"type": "boolean"},
                            "validation": {"type": "object", "nullable": True, "description": (
                                "recall (95% interval) and hit rate at a 1% budget on the "
                                "version's own validation window, the seizures they rest "
                                "on, and unstable under 30")},
                            "comparison": {"type": "object", "nullable": True, "description": (
                                "the latest comparison kept for it (southbound compare): "
                                "champion, compared_at, verdict, crossings, "
                                "labelled_seizures")},
                            "evidence": dict(_STRING, description=(
                                "that comparison against the model in service in words, or "
                                "why there is none (as the activation's answer)")),
                            "evidence_found": {"type": "boolean"}})}}),
                    "the registry"),
                    **_authenticated(403)}}},
            "/v1/models/{version}/activate": {"post": {
                "summary": "Serve another registered version (409: its artifact is refused "
                           "and the old model keeps serving; or require_comparison and no "
                           "comparison against the model in service is kept)",
                "security": auth,
                "parameters": [version_param],
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": _ref("Activation")}}},
                "responses": {"200": _json(_object(
                    ["version", "previous", "manifest", "evidence", "comparison"], {
                        "version": _STRING, "previous": _NULLABLE_STRING,
                        "manifest": {"type": "object"},
                        "evidence": dict(_STRING, description=(
                            "the latest comparison against the model it replaces, in "
                            "words, or why there is none")),
                        "comparison": {"type": "object", "nullable": True,
                                       "description": "that comparison (southbound compare)"},
                        "ignored_fields": _IGNORED}),
                    "activated"),
                    **_authenticated(403, 404, 409, body=True)}}},
            "/v1/models/rollback": {"post": {
                "summary": "Serve again the version active before the current one (409: "
                           "nothing to roll back to, or its artifact is refused)",
                "security": auth,
                "responses": {"200": _json(_object(["version", "previous"], {
                    "version": _STRING, "previous": _NULLABLE_STRING}), "rolled back"),
                    **_authenticated(403, 409)}}},
            "/v1/models/{version}/shadow": {
                "post": {
                    "summary": "Score this version in shadow beside the model in service: "
                               "every crossing scored is also scored by it and stored apart "
                               "(analysts see it on GET /v1/crossings/{crossing_id}); it "
                               "never changes a decision. 409: refused (the active version, "
                               "or its artifact fails)", "security": auth,
                    "parameters": [version_param],
                    "responses": {"200": _json(_object(["shadow", "previous", "active"], {
                        "shadow": _STRING, "previous": _NULLABLE_STRING,
                        "active": _NULLABLE_STRING}), "in shadow"),
                        **_authenticated(403, 404, 409)}},
                "delete": {
                    "summary": "Stop scoring this version in shadow", "security": auth,
                    "parameters": [version_param],
                    "responses": {"200": _json(_object(["shadow", "previous"], {
                        "shadow": {"type": "string", "nullable": True, "enum": [None]},
                        "previous": _STRING}), "ended"),
                        **_authenticated(403, 404, 503)}}},
            "/reports/{version}": {"get": {
                "summary": "The model report: budget curves, calibration, feature importance, "
                           "drift, outcome test and model card, on the store's traffic",
                "security": auth, "parameters": [version_param],
                "responses": {"200": {"description": "one self-contained HTML page",
                                      "content": {"text/html": {"schema": _STRING}}},
                              "202": _json(_object(["status", "version", "retry_after"], {
                                  "status": {"type": "string", "enum": ["building"]},
                                  "version": _STRING,
                                  "retry_after": {"type": "integer", "minimum": 1}}),
                                  "the page is being built outside the request workers "
                                  "(cached by version, model in service and the day the "
                                  "store's data ends): ask again after Retry-After seconds",
                                  {"Retry-After": {"required": True,
                                                   "description": "seconds to wait",
                                                   "schema": {"type": "integer",
                                                              "minimum": 1}}}),
                              **_authenticated(403, 404, 409)}}},
            "/v1/lookouts": {
                "get": {"summary": "Active lookouts", "security": auth,
                        "responses": {"200": _json(_object(["lookouts"], {
                            "lookouts": {"type": "array", "items": _ref("LookoutView")}}),
                            "the list"),
                            **_authenticated(403)}},
                "post": {"summary": "Add a lookout", "security": auth,
                         "requestBody": body(_ref("Lookout")),
                         "responses": {"201": _json(_ref("LookoutView"), "added"),
                                       **_authenticated(403, body=True)}}},
            "/v1/lookouts/{lookout_id}": {"delete": {
                "summary": "Remove a lookout", "security": auth,
                "parameters": [{"name": "lookout_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"204": {"description": "removed"},
                              **_authenticated(403, 404)}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {
                "200": _json(_object(["status"], {"status": _STRING}), "alive")}}},
            "/readyz": {"get": {"summary": "Readiness: store and model", "responses": {
                "200": _json(_object(["status", "model_version"], {
                    "status": _STRING, "model_version": _STRING}), "ready"),
                **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text format",
                        "content": {"text/plain": {"schema": _STRING}}}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": _json({"type": "object"}, "the document")}}},
        },
    }
