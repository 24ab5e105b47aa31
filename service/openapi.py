"""The OpenAPI 3 document of API v1, built from the contract's column table.

The request bodies' schemas are also what the API enforces: :func:`check_body`
checks a body's fields against them before the contract's own checks, so a value
the document does not allow is a 400 naming the field, and the document never
promises more than the service takes (``tests/test_schemathesis.py`` fuzzes it).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

from scoring.contract import COLUMNS, OUTCOME_COLUMNS, TEXT_KINDS, show_value
from service.auth import ROLES
from service.errors import ApiError

#: the store keeps ids and free text in 128-character columns
TEXT_MAX = 128
#: ISO-8601 with a UTC offset, years 1000-2999 (the contract's form, fields in range)
TIMESTAMP = (r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3])"
             r":[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])$")
_COUNT_TEXT = r"\+?[0-9]+(\.0*)?"

# kind -> (schema of its JSON value, the text form of a number or boolean (a crossing-log
# cell) also taken, what a message says is expected)
_KIND = {
    "id": ({"type": "string", "minLength": 1, "maxLength": TEXT_MAX}, None,
           f"a non-empty string of at most {TEXT_MAX} characters"),
    "text": ({"type": "string", "maxLength": TEXT_MAX}, None,
             f"a string of at most {TEXT_MAX} characters"),
    "port": ({"type": "string", "pattern": r"^[0-9]{4}$"}, None, "a 4-digit port code"),
    "jurisdiction": ({"type": "string", "pattern": r"^(UNK|[A-Z]{2}-[A-Z0-9]{1,3})$"}, None,
                     "an ISO 3166-2 code such as US-TX or MX-SON, or UNK"),
    "timestamp": ({"type": "string", "pattern": TIMESTAMP}, None,
                  "an ISO-8601 timestamp with a UTC offset, such as 2025-03-04T17:22:05-06:00"),
    "int": ({"type": "integer"}, r"[+-]?[0-9]+(\.0*)?", "an integer"),
    "count": ({"type": "integer", "minimum": 0}, _COUNT_TEXT, "an integer >= 0"),
    "positive": ({"type": "integer", "minimum": 1}, r"\+?0*[1-9][0-9]*(\.0*)?",
                 "an integer >= 1"),
    "amount": ({"type": "number", "minimum": 0},
               r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", "a number >= 0"),
    "bool": ({"type": "boolean"}, r"true|false|True|False|TRUE|FALSE|1|0|1\.0|0\.0",
             "true or false"),
}


def _column_schema(column, required=None):
    """The schema of one column's value in a request, and what a message says it expects.

    The message names the value's kind only ("an integer >= 0"): that null, or the text
    of a log cell, would also do is the document's to say, not a booth error's.
    """
    required = column.required if required is None else required
    schema, text, expects = _KIND.get(column.kind, _KIND["text"])
    schema = dict(schema)
    if column.kind == "enum":
        schema = {"type": "string", "enum": list(column.allowed)}
        expects = "one of " + ", ".join(column.allowed)
    if not required:  # null, or an empty string, is a missing value
        schema["nullable"] = True
        if "enum" in schema:
            schema["enum"] = schema["enum"] + ["", None]
        if "pattern" in schema:
            schema["pattern"] = f"^({schema['pattern'][1:-1]})?$"
    if text is not None:  # a number or boolean may also come as the text of a log cell
        schema = {"anyOf": [schema, {"type": "string",
                                     "pattern": f"^({text})$" if required else f"^({text})?$"}]}
    if column.help:
        schema["description"] = column.help
    return schema, expects


_NOT_HERE = {"type": "string", "enum": ["", None], "nullable": True,
             "description": "an outcome: never sent with a crossing "
                            "(POST /v1/crossings/{crossing_id}/outcome records it)"}


def _crossing(direction):
    props = {c.name: _column_schema(c)[0] for c in COLUMNS if c.name not in OUTCOME_COLUMNS}
    props["direction"] = {"type": "string", "enum": [direction]}
    props.update({name: dict(_NOT_HERE) for name in OUTCOME_COLUMNS})
    return {"type": "object", "required": [c.name for c in COLUMNS if c.required],
            "properties": props, "additionalProperties": True,
            "description": "the crossing-log contract's columns; unknown fields are ignored"}


def _outcome():
    by_name = {c.name: c for c in COLUMNS}
    props = {"inspected": _column_schema(by_name["inspected"], required=True)[0]}
    props.update({name: _column_schema(by_name[name])[0] for name in
                  ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd")})
    props["seizure"]["description"] = "required when inspected is true, empty otherwise"
    return {"type": "object", "required": ["inspected"], "properties": props,
            "additionalProperties": True}


_LOOKOUT = {"type": "object", "required": ["plate_id", "reason", "expires_at"],
            "additionalProperties": True, "properties": {
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
    out["Lookout", "expires_at"] = _KIND["timestamp"][2]
    return out


# --- enforcing the request schemas -------------------------------------------------

_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float),
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
    fields the document does not name are ignored.
    """
    for field, check in _checks(name):
        if field in body and not check(body[field]):
            raise ApiError(400, "invalid_value",
                           f"value {show_value(body[field])} is not {_expectations()[name, field]}",
                           prefix + field)


@lru_cache(maxsize=None)
def _checks(name):
    """(field, predicate) for each property of the document's schema ``name``."""
    properties = document()["components"]["schemas"][name]["properties"]
    return tuple((field, _compile(schema)) for field, schema in properties.items())


# --- the document ------------------------------------------------------------------

def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description, headers=None):
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


_ERROR_TEXT = {400: "invalid input; `field` names it", 401: "no or unknown token",
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
        "model_version": _STRING}),
    "StoredScore": {"allOf": [_ref("Score"), _object(["scored_at", "policy_version"], {
        "scored_at": _STRING, "policy_version": _STRING,
        "referral_source": {"type": "string", "description": "analysts only"},
        "selection_probability": {"type": "number", "description": "analysts only"},
        "features": {"type": "object", "description": "analysts only"}})]},
    "OutcomeView": _object(
        ["inspected", "seizure", "firearms_seized", "rounds_seized", "currency_seized_usd",
         "recorded_at", "recorded_by"], {
            "inspected": {"type": "boolean"}, "seizure": _NULLABLE_BOOL,
            "firearms_seized": _NULLABLE_NUMBER, "rounds_seized": _NULLABLE_NUMBER,
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
        "expires_at": _STRING, "created_by": _STRING, "created_at": _STRING}),
    "Error": _object(["error"], {"error": _object(["code", "message", "field"], {
        "code": _STRING, "message": _STRING, "field": _NULLABLE_STRING})}),
}


@lru_cache(maxsize=1)
def document():
    """The document served at /v1/openapi.json."""
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
                "OutboundCrossing": _crossing("outbound"),
                "InboundCrossing": _crossing("inbound"),
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
                    "results": {"type": "array", "items": _ref("Score")}}), "scored"),
                    **_authenticated(409, body=True)}}},
            "/v1/crossings": {"get": {
                "summary": "Latest scored outbound crossings at a port, newest first",
                "security": auth, "parameters": [
                    {"name": "port_code", "in": "query", "required": True,
                     "schema": {"type": "string", "pattern": r"^[0-9]{4}$"}},
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
                    "crossing_id": _STRING, "stored": {"type": "boolean"}}), "stored"),
                    "200": _json(_object(["crossing_id", "stored"], {
                        "crossing_id": _STRING, "stored": {"type": "boolean"}}),
                        "already stored"),
                    **_authenticated(409, body=True)}}},
            "/v1/crossings/{crossing_id}": {"get": {
                "summary": "A crossing with its score, decision, reasons and outcome",
                "security": auth, "parameters": [id_param],
                "responses": {"200": _json(_object(["crossing", "score", "outcome"], {
                    "crossing": _ref("CrossingView"),
                    "score": {"allOf": [_ref("StoredScore")], "nullable": True},
                    "outcome": {"allOf": [_ref("OutcomeView")], "nullable": True},
                    "outcomes": {"type": "array", "items": _ref("OutcomeView"),
                                 "description": "every outcome recorded; analysts only"}}),
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
                            "firearms_seized": _NULLABLE_NUMBER,
                            "rounds_seized": _NULLABLE_NUMBER,
                            "currency_seized_usd": _NULLABLE_NUMBER})}), "recorded"),
                    **_authenticated(404, 409, body=True)}}},
            "/v1/model": {"get": {
                "summary": "The active model's manifest, the policy in force and the "
                           "caller's role",
                "security": auth,
                "responses": {"200": _json(_object(
                    ["version", "policy_version", "manifest", "role"], {
                        "version": _STRING, "policy_version": _STRING,
                        "manifest": {"type": "object"},
                        "role": {"type": "string", "enum": list(ROLES)}}), "the model"),
                    **_authenticated()}}},
            "/v1/models": {"get": {
                "summary": "Registered model versions", "security": auth,
                "responses": {"200": _json(_object(["active", "versions"], {
                    "active": _NULLABLE_STRING,
                    "versions": {"type": "array", "items": _object(
                        ["version", "active"], {"version": _STRING,
                                                "created_at": _NULLABLE_STRING,
                                                "excluded_features": {"type": "array"},
                                                "active": {"type": "boolean"}})}}),
                    "the registry"),
                    **_authenticated(403)}}},
            "/v1/models/{version}/activate": {"post": {
                "summary": "Serve another registered version (409: its artifact is refused "
                           "and the old model keeps serving)", "security": auth,
                "parameters": [version_param],
                "responses": {"200": _json(_object(["version", "previous", "manifest"], {
                    "version": _STRING, "previous": _NULLABLE_STRING,
                    "manifest": {"type": "object"}}), "activated"),
                    **_authenticated(403, 404, 409)}}},
            "/reports/{version}": {"get": {
                "summary": "The model report: budget curves, calibration, feature importance, "
                           "drift, outcome test and model card, on the store's traffic",
                "security": auth, "parameters": [version_param],
                "responses": {"200": {"description": "one self-contained HTML page",
                                      "content": {"text/html": {"schema": _STRING}}},
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
