"""The schemas of API v1's document: request bodies from the contract's column table,
and the answers' shapes.

A request body's schema is also what :mod:`service.openapi.validate` enforces, so its
``expectations`` (what a 400 says a field expects) are declared here beside it.
"""
from __future__ import annotations

from functools import lru_cache

from flask import current_app, has_app_context

from scoring.contract import COLUMNS, OUTCOME_COLUMNS, TEXT_KINDS, TIMESTAMP_PATTERN, expects
from scoring.ports import known_ports
from service.store import INT_MAX, INTEGER_KINDS

#: the store keeps ids and free text in 128-character columns (and integers in 32 bits)
TEXT_MAX = 128
#: a lookout's longest reason (characters) and furthest expiry (days ahead)
REASON_MAX, LIFETIME_DAYS = 500, 365
#: lookouts per page of the listing: the default, and the most a page may ask for
PAGE_DEFAULT, PAGE_MAX = 100, 500
#: ISO-8601 with a UTC offset, years 1900-2199: the contract's own pattern
TIMESTAMP = f"^{TIMESTAMP_PATTERN}$"

# kind -> (schema of its JSON value, what a message says is expected)
KINDS = {
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
    schema, expected = KINDS.get(column.kind, KINDS["text"])
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
        schema.pop("minLength", None)
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


def crossing(direction, ports):
    """The schema of a crossing's body for ``direction``: the contract's columns."""
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


def outcome():
    """The schema of an outcome's body: inspected, seizure and the seized amounts."""
    by_name = {c.name: c for c in COLUMNS}
    props = {"inspected": _column_schema(by_name["inspected"], required=True)[0]}
    props.update({name: _column_schema(by_name[name])[0] for name in
                  ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd")})
    props["seizure"]["description"] = "required when inspected is true, empty otherwise"
    return {"type": "object", "required": ["inspected"], "properties": props,
            "additionalProperties": True,
            "description": "a seized amount above 0 needs inspected and seizure true; unknown "
                           "fields are ignored and named back in ignored_fields"}


LOOKOUT = {"type": "object", "required": ["plate_id", "reason", "expires_at"],
           "additionalProperties": True,
           "description": "unknown fields are ignored and named back in ignored_fields",
           "properties": {
               "plate_id": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
               "reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX},
               "expires_at": {"type": "string", "pattern": TIMESTAMP,
                              "description": "ISO-8601 with a UTC offset, in the future "
                                             f"and at most {LIFETIME_DAYS} days ahead"}}}


@lru_cache(maxsize=1)
def expectations():
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
    out["Lookout", "reason"] = f"a non-empty string of at most {REASON_MAX} characters"
    out["Lookout", "expires_at"] = KINDS["timestamp"][1]
    return out


def ports_in_force():
    """The port codes requests may name: the app's port table, else the shipped one."""
    if has_app_context() and "southbound.ports" in current_app.extensions:
        return current_app.extensions["southbound.ports"]
    return known_ports()


def components(ports):
    """The document's ``components.schemas`` for the port table ``ports``: the request
    bodies, then the answers."""
    return {
        "OutboundCrossing": crossing("outbound", ports),
        "InboundCrossing": crossing("inbound", ports),
        "Outcome": outcome(),
        "Lookout": LOOKOUT,
        **ANSWERS,
    }


# --- the answers ---------------------------------------------------------------------

def ref(name):
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required, properties, **more):
    """An object schema with its ``required`` fields and ``properties``."""
    return {"type": "object", "required": list(required), "properties": properties, **more}


STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
NULLABLE_NUMBER = {"type": "number", "nullable": True}
NULLABLE_INTEGER = {"type": "integer", "nullable": True}
#: present only when the body had fields the document does not name
IGNORED = {"type": "array", "items": {"type": "string"}, "minItems": 1,
           "description": "the body's fields that are not part of the API and were ignored "
                          "(a misspelt field shows here); present only when there are some"}
NULLABLE_BOOL = {"type": "boolean", "nullable": True}
PROBABILITY = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
               "exclusiveMaximum": True}
#: what an officer is shown of a referral (service.scorer.officer_view)
WITHHELD = ("null for an officer when the crossing is referred: every referral reads the "
            "same to an officer, whatever picked it (lookout, random share, exploration or "
            "the model); analysts see it")
OFFICER_SCORE = dict(PROBABILITY, nullable=True, description=WITHHELD)
OFFICER_BAND = dict(STRING, nullable=True, description=WITHHELD)
OFFICER_REASONS = {"type": "array", "items": ref("Reason"),
                   "description": "an officer is shown only \"selected for inspection\" "
                                  "for a referred crossing, whatever picked it; analysts see "
                                  "the model's reasons"}


def _crossing_view():
    props = {}
    for column in COLUMNS:
        if column.kind in TEXT_KINDS or column.kind == "timestamp":
            schema = dict(STRING)
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
    return obj(always, props, description="referral and selection_probability are shown "
                                          "to analysts only")


ANSWERS = {
    "Reason": obj(["factor", "text"], {"factor": STRING, "text": STRING}),
    "Score": obj(["crossing_id", "risk_score", "risk_band", "refer", "reasons",
                  "model_version"], {
        "crossing_id": STRING, "risk_score": OFFICER_SCORE, "risk_band": OFFICER_BAND,
        "refer": {"type": "boolean"}, "reasons": OFFICER_REASONS,
        "model_version": STRING, "ignored_fields": IGNORED}),
    "StoredScore": {"allOf": [ref("Score"), obj(["scored_at", "policy_version"], {
        "scored_at": STRING, "policy_version": STRING,
        "referral_source": {"type": "string", "description": "analysts only"},
        "selection_probability": {"type": "number", "description": "analysts only"},
        "features": {"type": "object", "description": "analysts only"}})]},
    "OutcomeView": obj(
        ["inspected", "seizure", "firearms_seized", "rounds_seized", "currency_seized_usd",
         "recorded_at", "recorded_by"], {
            "inspected": {"type": "boolean"}, "seizure": NULLABLE_BOOL,
            "firearms_seized": NULLABLE_INTEGER, "rounds_seized": NULLABLE_INTEGER,
            "currency_seized_usd": NULLABLE_NUMBER, "recorded_at": STRING,
            "recorded_by": STRING}),
    "CrossingView": _crossing_view(),
    "LaneItem": obj(
        ["crossing_id", "crossed_at", "port_code", "plate_id", "plate_jurisdiction",
         "vehicle_class", "body_type", "vehicle_make", "risk_score", "risk_band", "refer",
         "reasons", "scored_at", "model_version", "outcome"], {
            "crossing_id": STRING, "crossed_at": STRING, "port_code": STRING,
            "plate_id": STRING, "plate_jurisdiction": NULLABLE_STRING,
            "vehicle_class": STRING, "body_type": NULLABLE_STRING,
            "vehicle_make": NULLABLE_STRING, "risk_score": OFFICER_SCORE,
            "risk_band": OFFICER_BAND, "refer": {"type": "boolean"},
            "reasons": OFFICER_REASONS, "scored_at": STRING,
            "model_version": STRING,
            "outcome": obj(["inspected", "seizure"], {
                "inspected": {"type": "boolean"}, "seizure": NULLABLE_BOOL}, nullable=True)}),
    "LookoutView": obj(["id", "plate_id", "reason", "expires_at", "created_by",
                        "created_at"], {
        "id": {"type": "integer"}, "plate_id": STRING, "reason": STRING,
        "expires_at": STRING, "created_by": STRING, "created_at": STRING,
        "ignored_fields": IGNORED}),
    "Activation": {"type": "object", "properties": {"require_comparison": {
        "type": "boolean", "default": False,
        "description": "refuse (409 comparison_required) unless a comparison of this "
                       "version against the model in service is kept"}}},
    "ShadowScore": obj(["model_version", "risk_score", "threshold", "would_refer",
                        "scored_at"], {
        "model_version": STRING, "risk_score": PROBABILITY,
        "threshold": dict(NULLABLE_NUMBER, description="null where the port's capacity is "
                                                       "0 or everything"),
        "would_refer": {"type": "boolean", "description": (
            "the challenger's score at or above its own threshold for the port's "
            "capacity (its manifest's per-port score quantiles); never acted on")},
        "scored_at": STRING}),
    "Error": obj(["error"], {"error": obj(["code", "message", "field"], {
        "code": STRING, "message": STRING, "field": NULLABLE_STRING})}),
}
