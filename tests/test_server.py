"""The real thing: `southbound serve` under gunicorn, spoken to over HTTP on loopback."""
import json

import pytest

from southbound.cli import main
from tests.helpers.browser import call, serve


@pytest.fixture
def server(tmp_path, registry_path):
    """`southbound serve` (gunicorn, 2 workers) with an officer token: (url, token, log)."""
    with serve(tmp_path, registry_path) as live:
        yield live.url, live.tokens["officer"], live.log


def test_gunicorn_serves_scores_metrics_and_json_logs(server):
    url, token, log_path = server
    body = {"crossing_id": "http-1", "crossed_at": "2025-03-04T11:48:00-06:00",
            "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
            "plate_id": "PLATE-SECRET-1"}
    statuses = [call(url + "/v1/score", dict(body, crossing_id=f"http-{i}"), token)[0]
                for i in range(20)]
    assert statuses == [201] * 20
    status, answer = call(url + "/v1/score", dict(body, port_code="x"), token)
    assert status == 400 and answer["error"]["field"] == "port_code"
    status, metrics = call(url + "/metrics")
    assert status == 200
    # both workers' counts add up in the multiprocess registry
    line = next(l for l in metrics.splitlines()
                if l.startswith('southbound_http_requests_total{endpoint="/v1/score",'
                                'method="POST",status="201"}'))
    assert float(line.split()[-1]) == 20.0
    lines = [json.loads(l) for l in log_path.read_text().splitlines() if l.startswith("{")]
    access = [l for l in lines if l.get("logger") == "southbound.access"]
    assert len(access) >= 21 and {"route", "status", "ms", "request_id"} <= set(access[0])
    text = log_path.read_text()
    assert token not in text and "PLATE-SECRET-1" not in text


def test_tokens_create_prints_the_token_alone_on_the_last_line(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    result = runner.invoke(main, ["tokens", "create", "--role", "analyst", "--name", "ana"])
    assert result.exit_code == 0, result.output
    token = result.output.rstrip("\n").splitlines()[-1]
    assert token.startswith("sb_") and " " not in token and len(token) > 40
    import sqlite3
    stored = sqlite3.connect(tmp_path / "s.db").execute("SELECT * FROM tokens").fetchall()
    assert len(stored) == 1 and token not in repr(stored)
    result = runner.invoke(main, ["tokens", "create", "--role", "root", "--name", "x"])
    assert result.exit_code == 2


def test_a_taken_port_is_one_line_before_any_work(runner):
    """`make demo` runs `serve --check` first: a port in use stops it at once with one
    line saying what to do (it used to fail after all its work with gunicorn's error)."""
    import socket
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for args in (["serve", "--port", str(port), "--check"], ["serve", "--port", str(port)]):
            result = runner.invoke(main, args)
            assert result.exit_code == 1, result.output
            assert result.output.startswith(f"error: cannot serve on 127.0.0.1:{port}")
            assert "PORT=N make demo" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["serve", "--port", str(port), "--check"])
    assert result.exit_code == 0, result.output
