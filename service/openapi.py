"""The OpenAPI 3 document of API v1, built from the contract's column table."""
from __future__ import annotations

from functools import lru_cache

from scoring.contract import COLUMNS, OUTCOME_COLUMNS

_KIND = {
    "id": {"type": "string", "minLength": 1},
    "text": {"type": "string"},
    "port": {"type": "string", "pattern": r"^\d{4}$"},
    "jurisdiction": {"type": "string", "pattern": r"^(UNK|[A-Z]{2}-[A-Z0-9]{1,3})$"},
    "timestamp": {"type": "string", "description": "ISO-8601 with a UTC offset"},
    "int": {"type": "integer"},
    "count": {"type": "integer", "minimum": 0},
    "positive": {"type": "integer", "minimum": 1},
    "amount": {"type": "number", "minimum": 0},
    "probability": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
    "bool": {"type": "boolean"},
}


def _column_schema(column):
    schema = dict(_KIND.get(column.kind, {"type": "string"}))
    if column.kind == "enum":
        schema = {"type": "string", "enum": list(column.allowed)}
    if column.help:
        schema["description"] = column.help
    if not column.required:
        schema = dict(schema, nullable=True)
    return schema


def _crossing(direction):
    props = {c.name: _column_schema(c) for c in COLUMNS if c.name not in OUTCOME_COLUMNS}
    props["direction"] = {"type": "string", "enum": [direction]}
    return {"type": "object", "required": [c.name for c in COLUMNS if c.required],
            "properties": props, "additionalProperties": True}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    text = {400: "invalid input; `field` names it", 401: "no or unknown token",
            403: "the token's role may not do this", 404: "not found",
            409: "conflicts with what is stored", 413: "body too large",
            415: "not sent as application/json", 429: "too many requests with this token",
            503: "no model or no database"}
    if 401 in codes:  # every authenticated call is rate limited per token
        codes = codes + (429,)
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


@lru_cache(maxsize=1)
def document():
    """The document served at /v1/openapi.json."""
    auth = [{"bearer": []}]
    id_param = {"name": "crossing_id", "in": "path", "required": True,
                "schema": {"type": "string"}}
    score_ops = _errors(400, 401, 403, 409, 413, 415, 503)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Southbound API", "version": "1",
                 "description": "Risk scores, referral decisions and reasons for outbound "
                                "crossings at US-Mexico land ports; inspection outcomes."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "OutboundCrossing": _crossing("outbound"),
                "InboundCrossing": _crossing("inbound"),
                "Reason": {"type": "object", "required": ["factor", "text"],
                           "properties": {"factor": {"type": "string"},
                                          "text": {"type": "string"}}},
                "Score": {"type": "object", "required": ["crossing_id", "risk_score",
                                                         "risk_band", "refer", "reasons",
                                                         "model_version"],
                          "properties": {
                              "crossing_id": {"type": "string"},
                              "risk_score": {"type": "number", "minimum": 0,
                                             "exclusiveMinimum": True, "maximum": 1,
                                             "exclusiveMaximum": True},
                              "risk_band": {"type": "string"},
                              "refer": {"type": "boolean"},
                              "reasons": {"type": "array", "items": _ref("Reason")},
                              "model_version": {"type": "string"}}},
                "Outcome": {"type": "object", "required": ["inspected"], "properties": {
                    "inspected": {"type": "boolean"},
                    "seizure": {"type": "boolean", "nullable": True,
                                "description": "required when inspected"},
                    "firearms_seized": {"type": "integer", "minimum": 0, "nullable": True},
                    "rounds_seized": {"type": "integer", "minimum": 0, "nullable": True},
                    "currency_seized_usd": {"type": "number", "minimum": 0, "nullable": True}}},
                "Lookout": {"type": "object", "required": ["plate_id", "reason", "expires_at"],
                            "properties": {"plate_id": {"type": "string", "minLength": 1},
                                           "reason": {"type": "string", "minLength": 1},
                                           "expires_at": {"type": "string"}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "field"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": "string", "nullable": True}}}}},
            },
        },
        "paths": {
            "/v1/score": {"post": {
                "summary": "Score one outbound crossing", "security": auth,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("OutboundCrossing")}}},
                "responses": {"201": _json(_ref("Score"), "scored and stored"),
                              "200": _json(_ref("Score"), "repeated crossing_id: the stored answer"),
                              **score_ops}}},
            "/v1/score/batch": {"post": {
                "summary": "Score several outbound crossings", "security": auth,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["crossings"], "properties": {
                        "crossings": {"type": "array", "minItems": 1,
                                      "items": _ref("OutboundCrossing")}}}}}},
                "responses": {"200": _json({"type": "object", "properties": {
                    "results": {"type": "array", "items": _ref("Score")}}}, "scored"),
                    **score_ops}}},
            "/v1/crossings": {"get": {
                "summary": "Latest scored outbound crossings at a port, newest first",
                "security": auth, "parameters": [
                    {"name": "port_code", "in": "query", "required": True,
                     "schema": {"type": "string", "pattern": r"^\d{4}$"}},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
                "responses": {"200": _json({"type": "object"}, "the lane"),
                              **_errors(400, 401, 503)}},
                "post": {
                "summary": "Store an inbound crossing (history)", "security": auth,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("InboundCrossing")}}},
                "responses": {"201": _json({"type": "object"}, "stored"),
                              "200": _json({"type": "object"}, "already stored"),
                              **_errors(400, 401, 409, 413, 415, 503)}}},
            "/v1/crossings/{crossing_id}": {"get": {
                "summary": "A crossing with its score, decision, reasons and outcome",
                "security": auth, "parameters": [id_param],
                "responses": {"200": _json({"type": "object"}, "found"),
                              **_errors(401, 404, 503)}}},
            "/v1/crossings/{crossing_id}/outcome": {"post": {
                "summary": "Record what secondary inspection found", "security": auth,
                "parameters": [id_param],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("Outcome")}}},
                "responses": {"201": _json({"type": "object"}, "recorded"),
                              **_errors(400, 401, 404, 409, 413, 415, 503)}}},
            "/v1/model": {"get": {
                "summary": "The active model's manifest and the policy in force",
                "security": auth,
                "responses": {"200": _json({"type": "object"}, "the model"),
                              **_errors(401, 503)}}},
            "/v1/models": {"get": {
                "summary": "Registered model versions", "security": auth,
                "responses": {"200": _json({"type": "object"}, "the registry"),
                              **_errors(401, 403)}}},
            "/v1/models/{version}/activate": {"post": {
                "summary": "Serve another registered version", "security": auth,
                "parameters": [{"name": "version", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "object"}, "activated"),
                              **_errors(401, 403, 404, 409)}}},
            "/reports/{version}": {"get": {
                "summary": "The model report: budget curves, calibration, feature importance, "
                           "drift, outcome test and model card, on the store's traffic",
                "security": auth,
                "parameters": [{"name": "version", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "one self-contained HTML page",
                                      "content": {"text/html": {"schema": {"type": "string"}}}},
                              **_errors(401, 403, 404, 409)}}},
            "/v1/lookouts": {
                "get": {"summary": "Active lookouts", "security": auth,
                        "responses": {"200": _json({"type": "object"}, "the list"),
                                      **_errors(401, 403)}},
                "post": {"summary": "Add a lookout", "security": auth,
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": _ref("Lookout")}}},
                         "responses": {"201": _json({"type": "object"}, "added"),
                                       **_errors(400, 401, 403, 413, 415)}}},
            "/v1/lookouts/{lookout_id}": {"delete": {
                "summary": "Remove a lookout", "security": auth,
                "parameters": [{"name": "lookout_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"204": {"description": "removed"}, **_errors(401, 403, 404)}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {
                "200": _json({"type": "object"}, "alive")}}},
            "/readyz": {"get": {"summary": "Readiness: store and model", "responses": {
                "200": _json({"type": "object"}, "ready"), **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": _json({"type": "object"}, "the document")}}},
        },
    }
