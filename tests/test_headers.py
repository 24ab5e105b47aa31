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
        headers = response.headers
        assert headers.get("Cache-Control") == "no-store", name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "no-referrer", name
        assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), name
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
