"""The OpenAPI 3 document of API v1: its paths, one function per resource, and the
schemas of :mod:`service.openapi.schemas`."""
from __future__ import annotations

from functools import lru_cache

from scoring.contract import OUTCOME_REVIEW
from service.auth import ROLES
from service.openapi.schemas import (IGNORED, NULLABLE_BOOL, NULLABLE_INTEGER, NULLABLE_NUMBER,
                                     NULLABLE_STRING, PAGE_DEFAULT, PAGE_MAX, STRING,
                                     components, obj, ports_in_force, ref)

#: every call with a token
AUTH = [{"bearer": []}]
_CROSSING_ID = {"name": "crossing_id", "in": "path", "required": True,
                "schema": {"type": "string"},
                "description": "percent-encoded ('/' as %2F); an identifier of the contract: "
                               "kept in Unicode NFKC, a control or format character is a 400"}
_VERSION = {"name": "version", "in": "path", "required": True,
            "schema": {"type": "string"},
            "description": "a registered version; one of more than 64 characters, or with a "
                           "character that is not printable, is a 404, audited"}


def document():
    """The document served at /v1/openapi.json: with the app's port table in force."""
    return document_for(ports_in_force())


@lru_cache(maxsize=4)
def document_for(ports):
    """The document for the port table ``ports`` (a sorted tuple of codes)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Southbound API", "version": "1",
                 "description": "Risk scores, referral decisions and reasons for outbound "
                                "crossings at US-Mexico land ports; inspection outcomes. "
                                "Every error is {\"error\": {\"code\", \"message\", "
                                "\"field\"}}; input never causes a 500."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components(ports),
        },
        "paths": {**_score_paths(), **_crossing_paths(ports), **_model_paths(),
                  **_report_paths(), **_lookout_paths(), **_token_paths(),
                  **_health_paths()},
    }


def _body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


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
               415: "not sent as application/json",
               429: "too many requests with this token (each crossing of a batch counts as "
                    "one), or too many failed authentications from this address",
               503: "no model, no database or no readable registry"}


def _errors(*codes):
    out = {}
    for code in codes:
        headers = None
        if code == 429:
            headers = {"Retry-After": {"required": True, "description": "seconds to wait",
                                       "schema": {"type": "integer", "minimum": 1}}}
        out[str(code)] = _json(ref("Error"), _ERROR_TEXT[code], headers)
    return out


def _authenticated(*codes, body=False):
    """Error answers of a call with a token: 401, 429 (rate limit) and 503 (the token
    is looked up in the database) always; 400, 413 and 415 when it takes a body."""
    extra = (400, 413, 415) if body else ()
    return _errors(*sorted(set(codes) | {401, 429, 503} | set(extra)))


def _score_paths():
    """POST /v1/score and /v1/score/batch."""
    return {
        "/v1/score": {"post": {
            "summary": "Score one outbound crossing", "security": AUTH,
            "requestBody": _body(ref("OutboundCrossing")),
            "responses": {"201": _json(ref("Score"), "scored and stored"),
                          "200": _json(ref("Score"), "repeated crossing_id: the stored answer"),
                          **_authenticated(409, body=True)}}},
        "/v1/score/batch": {"post": {
            "summary": "Score several outbound crossings (413 over the batch limit)",
            "security": AUTH,
            "requestBody": _body({"type": "object", "required": ["crossings"],
                                  "properties": {"crossings": {
                                      "type": "array", "minItems": 1,
                                      "items": ref("OutboundCrossing")}}}),
            "responses": {"200": _json(obj(["results"], {
                "results": {"type": "array", "items": ref("Score")},
                "ignored_fields": dict(IGNORED, description=(
                    "ignored fields of the body and of each crossing "
                    "(crossings[3].lane); present only when there are some"))}),
                "scored"),
                **_authenticated(409, body=True)}}},
    }


#: what each look-up of persons says of itself
READ_AUDITED = ("every call is recorded in the audit trail before the answer: who, when, "
                "from where and what")


def _crossing_paths(ports):
    """Inbound crossings, the lane, a crossing and its outcome."""
    return {
        "/v1/crossings": {"get": {
            "summary": "Latest scored outbound crossings at a port, by crossing time, newest first",
            "description": READ_AUDITED + " (the port and the count returned)",
            "security": AUTH, "parameters": [
                {"name": "port_code", "in": "query", "required": True,
                 "schema": {"type": "string", "enum": list(ports)},
                 "description": "a port of the port table (400 unknown_port otherwise)"},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200,
                            "default": 50}}],
            "responses": {"200": _json(obj(["port_code", "crossings"], {
                "port_code": STRING,
                "crossings": {"type": "array", "items": ref("LaneItem")}}), "the lane"),
                **_authenticated(400)}},
            "post": {
            "summary": "Store an inbound crossing (history)", "security": AUTH,
            "requestBody": _body(ref("InboundCrossing")),
            "responses": {"201": _json(obj(["crossing_id", "stored"], {
                "crossing_id": STRING, "stored": {"type": "boolean"},
                "ignored_fields": IGNORED}), "stored"),
                "200": _json(obj(["crossing_id", "stored"], {
                    "crossing_id": STRING, "stored": {"type": "boolean"},
                    "ignored_fields": IGNORED}), "already stored"),
                **_authenticated(409, body=True)}}},
        "/v1/crossings/{crossing_id}": {"get": {
            "summary": "A crossing with its score, decision, reasons and outcome",
            "description": READ_AUDITED + " (the crossing id; a look-up of an unknown one "
                                          "too)",
            "security": AUTH, "parameters": [_CROSSING_ID],
            "responses": {"200": _json(obj(["crossing", "score", "outcome"], {
                "crossing": ref("CrossingView"),
                "score": {"allOf": [ref("StoredScore")], "nullable": True},
                "outcome": {"allOf": [ref("OutcomeView")], "nullable": True},
                "outcomes": {"type": "array", "items": ref("OutcomeView"),
                             "description": "every outcome recorded; analysts only"},
                "shadow": {"allOf": [ref("ShadowScore")], "nullable": True,
                           "description": "the challenger's score of the crossing, if "
                                          "one was in shadow; analysts only"}}),
                "found"),
                **_authenticated(400, 404)}}},
        "/v1/crossings/{crossing_id}/outcome": {"post": {
            "summary": "Record what secondary inspection found", "security": AUTH,
            "parameters": [_CROSSING_ID],
            "requestBody": _body(ref("Outcome")),
            "responses": {"201": _json(obj(["crossing_id", "outcome", "review"], {
                "crossing_id": STRING,
                "review": {"type": "array", "items": {"type": "string", "enum": list(
                    OUTCOME_REVIEW)}, "description": "the seized amounts at or above their "
                    "review threshold (docs/contract.md): the outcome is recorded and "
                    "flagged for an analyst's review (an outcome_review audit row)"},
                "outcome": obj(
                    ["inspected", "seizure", "firearms_seized", "rounds_seized",
                     "currency_seized_usd"], {
                        "inspected": {"type": "boolean"}, "seizure": NULLABLE_BOOL,
                        "firearms_seized": NULLABLE_INTEGER,
                        "rounds_seized": NULLABLE_INTEGER,
                        "currency_seized_usd": NULLABLE_NUMBER}),
                "ignored_fields": IGNORED}), "recorded"),
                **_authenticated(404, 409, body=True)}}},
    }


def _model_paths():
    """The model in service, the registry, activation, rollback and shadow."""
    return {
        "/v1/model": {"get": {
            "summary": "The active model's version and the caller's role; analysts "
                       "and admins also get its manifest and the policy in force",
            "security": AUTH,
            "responses": {"200": _json(obj(
                ["version", "role"], {
                    "version": STRING, "policy_version": STRING,
                    "manifest": {"type": "object"},
                    "role": {"type": "string", "enum": list(ROLES)}}), "the model"),
                **_authenticated()}}},
        "/v1/models": {"get": {
            "summary": "Registered model versions", "security": AUTH,
            "responses": {"200": _json(obj(["active", "shadow", "versions"], {
                "active": NULLABLE_STRING,
                "shadow": dict(NULLABLE_STRING, description="the challenger in shadow"),
                "rollback_to": dict(NULLABLE_STRING, description=(
                    "the version POST /v1/models/rollback would serve again")),
                "versions": {"type": "array", "items": obj(
                    ["version", "active", "shadow"], {
                        "version": STRING, "created_at": NULLABLE_STRING,
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
                        "evidence": dict(STRING, description=(
                            "that comparison against the model in service in words, or "
                            "why there is none (as the activation's answer)")),
                        "evidence_found": {"type": "boolean"}})}}),
                "the registry"),
                **_authenticated(403)}}},
        "/v1/models/{version}/activate": {"post": {
            "summary": "Serve another registered version (409: its artifact is refused "
                       "and the old model keeps serving; or require_comparison and no "
                       "comparison against the model in service is kept)",
            "security": AUTH,
            "parameters": [_VERSION],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": ref("Activation")}}},
            "responses": {"200": _json(obj(
                ["version", "previous", "manifest", "evidence", "comparison"], {
                    "version": STRING, "previous": NULLABLE_STRING,
                    "manifest": {"type": "object"},
                    "evidence": dict(STRING, description=(
                        "the latest comparison against the model it replaces, in "
                        "words, or why there is none")),
                    "comparison": {"type": "object", "nullable": True,
                                   "description": "that comparison (southbound compare)"},
                    "ignored_fields": IGNORED}),
                "activated"),
                **_authenticated(403, 404, 409, body=True)}}},
        "/v1/models/rollback": {"post": {
            "summary": "Serve again the version active before the current one (409: "
                       "nothing to roll back to, or its artifact is refused)",
            "security": AUTH,
            "responses": {"200": _json(obj(["version", "previous"], {
                "version": STRING, "previous": NULLABLE_STRING}), "rolled back"),
                **_authenticated(403, 409)}}},
        "/v1/models/{version}/shadow": {
            "post": {
                "summary": "Score this version in shadow beside the model in service: "
                           "every crossing scored is also scored by it and stored apart "
                           "(analysts see it on GET /v1/crossings/{crossing_id}); it "
                           "never changes a decision. 409: refused (the active version, "
                           "or its artifact fails)", "security": AUTH,
                "parameters": [_VERSION],
                "responses": {"200": _json(obj(["shadow", "previous", "active"], {
                    "shadow": STRING, "previous": NULLABLE_STRING,
                    "active": NULLABLE_STRING}), "in shadow"),
                    **_authenticated(403, 404, 409)}},
            "delete": {
                "summary": "Stop scoring this version in shadow", "security": AUTH,
                "parameters": [_VERSION],
                "responses": {"200": _json(obj(["shadow", "previous"], {
                    "shadow": {"type": "string", "nullable": True, "enum": [None]},
                    "previous": STRING}), "ended"),
                    **_authenticated(403, 404, 503)}}},
    }


def _report_paths():
    """The model report page."""
    return {
        "/reports/{version}": {"get": {
            "summary": "The model report: budget curves, calibration, feature importance, "
                       "drift, outcome test and model card, on the store's traffic",
            "security": AUTH, "parameters": [_VERSION],
            "responses": {"200": {"description": "one self-contained HTML page",
                                  "content": {"text/html": {"schema": STRING}}},
                          "202": _json(obj(["status", "version", "retry_after"], {
                              "status": {"type": "string", "enum": ["building"]},
                              "version": STRING,
                              "retry_after": {"type": "integer", "minimum": 1}}),
                              "the page is being built outside the request workers "
                              "(cached by version, model in service and the day the "
                              "store's data ends): ask again after Retry-After seconds",
                              {"Retry-After": {"required": True,
                                               "description": "seconds to wait",
                                               "schema": {"type": "integer",
                                                          "minimum": 1}}}),
                          **_authenticated(403, 404, 409),
                          "503": _json(ref("Error"), "no database, or (code report_busy) "
                                       "another page is being built on this server, one at "
                                       "a time: ask again after Retry-After seconds",
                                       {"Retry-After": {"required": False,
                                                        "description": "seconds to wait "
                                                                       "(report_busy)",
                                                        "schema": {"type": "integer",
                                                                   "minimum": 1}}})}}},
    }


def _lookout_paths():
    """The lookout list."""
    return {
        "/v1/lookouts": {
            "get": {"summary": "Active lookouts, newest first, a page at a time",
                    "security": AUTH,
                    "description": READ_AUDITED + " (the count returned)",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX,
                                    "default": PAGE_DEFAULT}},
                        {"name": "after", "in": "query", "required": False,
                         "description": "the previous page's next: lookouts older than it",
                         "schema": {"type": "integer", "minimum": 1,
                                    "maximum": 2**31 - 1}}],
                    "responses": {"200": _json(obj(["lookouts", "next"], {
                        "lookouts": {"type": "array", "items": ref("LookoutView")},
                        "next": {"type": "integer", "nullable": True, "description": (
                            "pass as after for the next page; null on the last")}}),
                        "a page of the list"),
                        **_authenticated(400, 403)}},
            "post": {"summary": "Add a lookout", "security": AUTH,
                     "requestBody": _body(ref("Lookout")),
                     "responses": {"201": _json(ref("LookoutView"), "added"),
                                   **_authenticated(403, body=True)}}},
        "/v1/lookouts/{lookout_id}": {"delete": {
            "summary": "Remove a lookout", "security": AUTH,
            "parameters": [{"name": "lookout_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"204": {"description": "removed"},
                          **_authenticated(403, 404)}}},
    }


def _token_paths():
    """Revoking a token (admins)."""
    return {
        "/v1/tokens/{token_id}": {"delete": {
            "summary": "Revoke a token (admins; audited): refused by the worker that "
                       "answers at once, by the others within SOUTHBOUND_TOKEN_CACHE_SECONDS; "
                       "409 when already revoked",
            "security": AUTH,
            "parameters": [{"name": "token_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"204": {"description": "revoked"},
                          **_authenticated(403, 404, 409)}}},
    }


def _health_paths():
    """Liveness, readiness, metrics and this document (no token)."""
    return {
        "/healthz": {"get": {"summary": "Liveness", "responses": {
            "200": _json(obj(["status"], {"status": STRING}), "alive")}}},
        "/readyz": {"get": {"summary": "Readiness: store and model", "responses": {
            "200": _json(obj(["status", "model_version"], {
                "status": STRING, "model_version": STRING}), "ready"),
            **_errors(503)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
            "200": {"description": "text format",
                    "content": {"text/plain": {"schema": STRING}}}}}},
        "/v1/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": _json({"type": "object"}, "the document")}}},
    }
