"""API v1 fuzzed with Schemathesis against its own document, ``/v1/openapi.json``.

Every operation of the document gets requests generated from it, in process (WSGI),
on SQLite and on PostgreSQL: valid data (positive) with an admin token, invalid data
(negative: wrong types, patterns, ranges, missing fields) with an admin token, valid
data with an officer token (403s on analyst calls, the officer's views) and with no
valid token (401s), a burst over a token's rate limit (429 with Retry-After), and a
few requests on stored crossings, a stored lookout and the registered model so the
success answers get checked too. Each answer must be:

- never a 5xx (``not_a_server_error``);
- a status the operation documents (``status_code_conformance``), with the documented
  content type and headers (``content_type_conformance``,
  ``response_headers_conformance``) and a body that fits the documented schema
  (``response_schema_conformance``);
- for invalid data, a rejection (``negative_data_rejection``);
- for any error, the one error shape, and a 400 for a bad value names the field
  (``error_names_the_field``, below).

Generation is derandomized (the same requests every run). Requests made per run:
about 760 on SQLite and 480 on PostgreSQL, about 1,240 in all (the last test checks
that at least 1,000 were made). Runtime: about 30 s and 25 s on two shared cores.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from tests.helpers.service import inbound, outbound, soon

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
#: requests made by each run, by database
REQUESTS = collections.Counter()
MIN_PER_RUN = {"sqlite": 600, "postgresql": 350}
MIN_IN_ALL = 1000


@schemathesis.check
def error_names_the_field(ctx, response, case):
    """Every error is {"error": {"code", "message", "field"}}; a bad value names its field."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert error["code"] and error["message"], error
    if response.status_code == 400 and error["code"] == "invalid_value":
        assert error["field"], error
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, error_names_the_field]


@dataclass(frozen=True)
class Run:
    """One generation loop over one operation."""

    mode: GenerationMode
    role: str | None  # None: no valid token
    examples: int


def plan(operation):
    """The runs an operation gets: more examples where there is more to generate."""
    has_body = bool(operation.body)
    has_params = bool(list(operation.path_parameters) or list(operation.query))
    if not operation.definition.raw.get("security"):  # health, metrics, this document
        return [Run(POSITIVE, None, 5)]
    main = 45 if has_body else (25 if has_params else 5)
    runs = [Run(POSITIVE, "admin", main), Run(POSITIVE, "officer", max(5, main // 3)),
            Run(POSITIVE, None, 5)]
    if has_body or has_params:
        runs.append(Run(NEGATIVE, "admin", 40 if has_body else 15))
    return runs


def fuzz(operation, run, headers, counter, **fixed):
    """Generate ``run.examples`` requests for ``operation``, send and check each one."""
    checks = CHECKS + ([negative_data_rejection] if run.mode == NEGATIVE else [])
    strategy = operation.as_strategy(generation_mode=run.mode, headers=headers or None,
                                     **fixed)

    @given(case=strategy)
    @settings(max_examples=run.examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def send(case):
        counter[operation.label] += 1
        case.call_and_validate(checks=checks)

    send()


def _seed(client, auth):
    """A scored outbound crossing, an inbound one and a lookout for the fuzz to find."""
    officer = auth["officer"]
    assert client.post("/v1/score", json=outbound(1), headers=officer).status_code == 201
    assert client.post("/v1/crossings", json=inbound(1), headers=officer).status_code == 201
    lookout = client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": "P9", "reason": "tip", "expires_at": soon()})
    assert lookout.status_code == 201
    return {"outbound": "o1", "inbound": "i1", "lookout": lookout.json["id"]}


def _spare_token(app):
    """The id of a token no request of the fuzz uses."""
    import sqlalchemy as sa
    from service.auth import create_token
    from service.store import tokens
    store = app.extensions["southbound.store"]
    create_token(store, "officer", "spare")
    with store.engine.connect() as conn:
        return conn.execute(sa.select(tokens.c.id).where(tokens.c.name == "spare")).scalar_one()


def test_every_operation_answers_as_documented(app, auth, database_url):
    database = database_url.split(":")[0].split("+")[0]
    # loaded from the served document (from_wsgi would leave out the document's own path)
    document = app.test_client().get("/v1/openapi.json").json
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item}
    assert {tuple(reversed(label.split(" ", 1))) for label in operations} == documented

    counter = collections.Counter()
    seeded = _seed(app.test_client(), auth)
    negative = set()
    # the fuzz revokes only a token of its own, never those of the runs after it
    spare = {"path_parameters": {"token_id": _spare_token(app)}}
    for label, operation in operations.items():
        for run in plan(operation):
            headers = auth[run.role] if run.role else {"Authorization": "Bearer sb_not-a-token"}
            fixed = spare if label == "DELETE /v1/tokens/{token_id}" and \
                run.mode == POSITIVE else {}
            try:
                fuzz(operation, run, headers, counter, **fixed)
            except Unsatisfiable:
                # nothing in the operation can be made invalid (a free-form string path)
                assert run.mode == NEGATIVE and not operation.body, label
                continue
            if run.mode == NEGATIVE:
                negative.add(label)
    assert {label for label, op in operations.items() if op.body} <= negative

    # the answers on stored things: found, conflicts, the analyst's view, removal
    admin, officer = auth["admin"], auth["officer"]
    on_stored = [
        ("GET /v1/crossings/{crossing_id}", {"crossing_id": seeded["outbound"]}, admin),
        ("GET /v1/crossings/{crossing_id}", {"crossing_id": seeded["outbound"]}, officer),
        ("GET /v1/crossings/{crossing_id}", {"crossing_id": seeded["inbound"]}, officer),
        ("POST /v1/crossings/{crossing_id}/outcome", {"crossing_id": seeded["outbound"]},
         officer),
        ("POST /v1/crossings/{crossing_id}/outcome", {"crossing_id": seeded["inbound"]},
         officer),
        ("DELETE /v1/lookouts/{lookout_id}", {"lookout_id": seeded["lookout"]}, admin),
        ("POST /v1/models/{version}/activate",
         {"version": app.extensions["southbound.models"].current().version}, admin),
        ("GET /reports/{version}",  # 202 while it builds, then the page or its error
         {"version": app.extensions["southbound.models"].current().version}, admin),
    ]
    for label, path, headers in on_stored:
        fuzz(operations[label], Run(POSITIVE, "fixed", 10), headers, counter,
             path_parameters=path)
    assert app.extensions["southbound.reports"].wait(120)

    # over a token's rate limit: 429 with Retry-After, as documented
    limiter = app.extensions["southbound.ratelimit"]
    limiter.per_minute = 3
    try:
        statuses = []
        for label in ("GET /v1/model", "GET /v1/lookouts", "POST /v1/score"):
            body = {"body": outbound(2)} if label == "POST /v1/score" else {}
            case = operations[label].Case(headers=auth["analyst"], **body)
            statuses.append(case.call_and_validate(checks=CHECKS).status_code)
            counter[label] += 1
        for _ in range(2):
            case = operations["GET /v1/lookouts"].Case(headers=auth["analyst"])
            statuses.append(case.call_and_validate(checks=CHECKS).status_code)
            counter["GET /v1/lookouts"] += 1
    finally:
        limiter.per_minute = 0
    assert statuses == [200, 200, 201, 429, 429], statuses

    REQUESTS[database] = sum(counter.values())
    print(f"\n{database}: {REQUESTS[database]} requests", dict(counter))
    assert set(counter) == set(operations)
    assert REQUESTS[database] >= MIN_PER_RUN[database], counter


def test_at_least_a_thousand_requests_in_all():
    if set(REQUESTS) != set(MIN_PER_RUN):
        pytest.skip("the fuzz ran on only some databases: " + ", ".join(REQUESTS))
    assert sum(REQUESTS.values()) >= MIN_IN_ALL, REQUESTS
