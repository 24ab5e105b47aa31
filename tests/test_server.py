"""The real thing: `southbound serve` under gunicorn, spoken to over HTTP on loopback."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from southbound.cli import main

SB = str(Path(sys.executable).with_name("southbound"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, token=None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server(tmp_path, registry_path):
    env = dict(os.environ, SOUTHBOUND_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}",
               SOUTHBOUND_REGISTRY=str(registry_path), SOUTHBOUND_LOG_LEVEL="INFO",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    token = subprocess.run([SB, "tokens", "create", "--role", "officer", "--name", "t"], env=env,
                           capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([SB, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if call(url + "/readyz")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        pytest.fail("server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
    yield url, token, tmp_path / "server.log"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def test_gunicorn_serves_scores_metrics_and_json_logs(server):
    url, token, log_path = server
    body = {"crossing_id": "http-1", "crossed_at": "2025-03-04T11:48:00-06:00",
            "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
            "plate_id": "PLATE-SECRET-1"}
    statuses = [call(url + "/v1/score", dict(body, crossing_id=f"http-{i}"), token)[0]
                for i in range(20)]
    assert statuses == [201] * 20
    status, text = call(url + "/v1/score", dict(body, port_code="x"), token)
    assert status == 400 and json.loads(text)["error"]["field"] == "port_code"
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
