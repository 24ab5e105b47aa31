"""Every answer's Content-Type parses as a strict client would parse it (RFC 9110 §8.3):
one media type, parameters of valid tokens, none named twice. Prometheus 3 refuses a
scrape whose Content-Type names ``charset`` twice."""
from __future__ import annotations

import re

import pytest

TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(rf"^({TOKEN})/({TOKEN})$")
PARAMETER = re.compile(rf'^({TOKEN})=({TOKEN}|"(?:[^"\\]|\\.)*")$')


def parse_content_type(value):
    """(type, {parameter: value}); ValueError for anything a strict parser refuses."""
    media, *parameters = [part.strip() for part in value.split(";")]
    if not MEDIA_TYPE.match(media):
        raise ValueError(f"media type {media!r}")
    seen = {}
    for parameter in parameters:
        match = PARAMETER.match(parameter)
        if not match:
            raise ValueError(f"parameter {parameter!r}")
        name = match.group(1).lower()
        if name in seen:
            raise ValueError(f"duplicate parameter name {name!r} in {value!r}")
        seen[name] = match.group(2)
    return media.lower(), seen


def assert_protected(name, response):
    """The headers every answer carries: never cached, never sniffed, never framed, no
    referrer, and a CSP that forbids framing."""
    headers = response.headers
    assert headers.get("Cache-Control") == "no-store", name
    assert headers.get("X-Content-Type-Options") == "nosniff", name
    assert headers.get("X-Frame-Options") == "DENY", name
    assert headers.get("Referrer-Policy") == "no-referrer", name
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), name


def test_the_strict_parser_refuses_what_prometheus_refuses():
    with pytest.raises(ValueError, match="duplicate parameter name 'charset'"):
        parse_content_type("text/plain; version=0.0.4; charset=utf-8; charset=utf-8")
    assert parse_content_type("text/plain; version=0.0.4; charset=utf-8") == (
        "text/plain", {"version": "0.0.4", "charset": "utf-8"})


def _get_routes(app):
    """Every GET route that takes no path argument (health, metrics, documents, pages)."""
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_answer_has_a_content_type_a_strict_parser_takes(app, client, auth):
    routes = _get_routes(app)
    assert {"/metrics", "/healthz", "/readyz", "/v1/openapi.json", "/"} <= set(routes)
    client.get("/healthz")  # something for /metrics to count
    for route in routes:
        response = client.get(route, headers=auth["admin"])
        media, parameters = parse_content_type(response.headers["Content-Type"])
        assert media, route
    scrape = client.get("/metrics")
    media, parameters = parse_content_type(scrape.headers["Content-Type"])
    assert media == "text/plain" and "version" in parameters
    # an error answer too
    response = client.get("/v1/crossings/none", headers=auth["admin"])
    assert response.status_code == 404
    assert parse_content_type(response.headers["Content-Type"])[0] == "application/json"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_answer_carries_the_security_headers_and_is_never_cached(app, client, auth):
    """Answers name crossings, plates and decisions: no cache keeps them, no page frames
    them, nothing is sniffed; JSON and documents load nothing, the console its own files."""
    answers = {route: client.get(route, headers=auth["admin"]) for route in _get_routes(app)}
    answers["404"] = client.get("/v1/crossings/none", headers=auth["admin"])
    answers["400"] = client.post("/v1/score", json={}, headers=auth["officer"])
    answers["401"] = client.get("/v1/model")
    for name, response in answers.items():
        assert_protected(name, response)
    assert answers["/v1/openapi.json"].headers["Content-Security-Policy"].startswith(
        "default-src 'none'")
    assert "script-src 'self'" in answers["/"].headers["Content-Security-Policy"]


def test_serve_dev_never_runs_the_debugger(monkeypatch):
    """FLASK_DEBUG=1 would turn on Werkzeug's debugger, which runs code typed into an
    error page: `serve --dev` passes debug off whatever the environment says."""
    from flask import Flask
    from service import server
    seen = {}
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setattr(server, "check_free", lambda host, port: None)
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: seen.update(kwargs))
    server.run("127.0.0.1", 8999, 1, dev=True)
    assert seen.get("debug") is False and seen.get("use_debugger") is False


def _filled(rule, values):
    """The rule's URL with each argument filled from ``values``."""
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), url)
    return url


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_and_method_and_every_error_carries_the_headers(app, client, auth):
    """Each rule of the url_map with each of its methods (and one it refuses: 405), with
    and without a token, the report page, the console's files, a 404, a 413 and a 500."""
    from service.api.reports import JOBS
    from service.report_jobs import page_name
    from tests.helpers.service import outbound
    answers = {"201": client.post("/v1/score", json=outbound(), headers=auth["officer"])}
    assert answers["201"].status_code == 201
    version = client.get("/v1/model", headers=auth["officer"]).json["version"]
    jobs = app.extensions[JOBS]
    jobs.root.mkdir(parents=True, exist_ok=True)
    jobs.page(page_name(version, version, "2025-03-04")).write_text(
        "<!doctype html><title>report</title>")
    values = {"filename": "console/main.js", "crossing_id": "o1", "version": version,
              "lookout_id": 1, "token_id": 999999}
    for rule in app.url_map.iter_rules():
        url = _filled(rule, values)
        for method in sorted(rule.methods - {"OPTIONS"}) + ["PUT"]:
            for who, headers in (("admin", auth["admin"]), ("anyone", {})):
                kwargs = {"json": {}} if method in ("POST", "PUT") else {}
                answers[f"{method} {url} ({who})"] = client.open(
                    url, method=method, headers=headers, **kwargs)
    answers["report page"] = client.get(f"/reports/{version}", headers=auth["analyst"])
    answers["413"] = client.post("/v1/score", data="x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                                 content_type="application/json", headers=auth["officer"])
    answers["404 route"] = client.get("/v1/nothing-here")
    answers["404 asset"] = client.get("/static/console/nothing.js")
    statuses = {r.status_code for r in answers.values()}
    assert {200, 201, 400, 401, 404, 405, 413} <= statuses, statuses
    assert answers["report page"].mimetype == "text/html"
    assert answers["report page"].status_code == 200
    for name, response in answers.items():
        assert_protected(name, response)
    assert "style-src 'unsafe-inline'" in (
        answers["report page"].headers["Content-Security-Policy"])
    assert answers["GET /metrics (anyone)"].headers["Content-Security-Policy"].startswith(
        "default-src 'none'")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unexpected_error_carries_the_headers_too(app, client, monkeypatch):
    def broken():
        raise RuntimeError("boom")
    monkeypatch.setitem(app.view_functions, "health.healthz", broken)
    response = client.get("/healthz")
    assert response.status_code == 500 and "boom" not in response.get_data(as_text=True)
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "default-src 'none'" in response.headers.get("Content-Security-Policy", "")
