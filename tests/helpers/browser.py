"""Helpers for tests that need the real thing: `southbound serve` on loopback, headless Chromium."""
from __future__ import annotations

import contextlib
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
from types import SimpleNamespace

import pytest

SB = str(Path(sys.executable).with_name("southbound"))
CHROMIUM = "/usr/bin/chromium"
# no browser can be downloaded here: Playwright drives Debian's chromium
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parents[1] / "output"


def _ports():
    """The loopback ports this process hands out. Under pytest-xdist each worker has a
    block of its own below the kernel's ephemeral range (32768 and up, where bind(0) and
    every outgoing connection take their ports), so a port checked free here cannot be
    handed to another worker or taken as a source port before the server binds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return None
    # the ports from 20,000 up to the ephemeral range, split evenly over the workers
    size = (32_768 - 20_000) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    base = 20_000 + size * int(worker[2:])
    return iter(range(base, base + size))


_PORTS = _ports()


def free_port():
    """A loopback port nothing listens on, for a server the test starts."""
    # each once: a stopped server's port may still be in TIME_WAIT
    for port in _PORTS or ():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, token=None, method=None):
    """(status, parsed JSON or text) of one HTTP request."""
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def registry_copy(pristine, folder):
    """A copy of the pristine registry in ``folder``: what one test (or one module's
    server) activates, rolls back or shadows stays its own, whatever ran before it."""
    import shutil
    return Path(shutil.copytree(pristine, Path(folder) / "registry"))


@contextlib.contextmanager
def serve(folder, registry, roles=("officer",), workers=2, env=None, database_url=None,
          before_start=None, ready=True):
    """`southbound serve` under gunicorn on a free loopback port, a store (``database_url``,
    by default a fresh SQLite file in ``folder``) and one token per role; yields
    (url, tokens, log path, pid of the gunicorn master, database_url, reports: the folder
    of its report pages). ``env`` adds or
    overrides environment variables of the server and of `tokens create`;
    ``before_start()`` runs after the tokens are made, before the server starts. With
    ``ready=False`` it waits only for /healthz and every worker, not for /readyz."""
    database_url = database_url or f"sqlite:///{folder / 'store.db'}"
    env = {**os.environ, "SOUTHBOUND_DATABASE_URL": database_url,
           "SOUTHBOUND_REGISTRY": str(registry), "SOUTHBOUND_LOG_LEVEL": "INFO",
           # the server's report pages in its own folder, never ./var/reports of the checkout
           "SOUTHBOUND_REPORT_DIR": str(folder / "reports"),
           "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"), **(env or {})}
    tokens = {role: subprocess.run([SB, "tokens", "create", "--role", role, "--name", role],
                                   env=env, capture_output=True, text=True,
                                   check=True).stdout.splitlines()[-1]
              for role in roles}
    if before_start is not None:
        before_start()
    port = free_port()
    log_path = folder / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([SB, "serve", "--port", str(port), "--workers", str(workers)],
                                env=env, stderr=log, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            # every worker booted (each logs "worker ready"), not just the first, so
            # that a test's fault never meets a worker still starting
            booted = env["SOUTHBOUND_LOG_LEVEL"].upper() in ("DEBUG", "INFO")
            while True:
                try:
                    if (call(url + ("/readyz" if ready else "/healthz"))[0] == 200
                            and (not booted or _ready_workers(log_path) >= workers)):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("server did not start: " + log_path.read_text()[-2000:])
                time.sleep(0.2)
            yield SimpleNamespace(url=url, tokens=tokens, log=log_path, pid=proc.pid,
                                  database_url=database_url, reports=folder / "reports")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def _ready_workers(log_path):
    """How many gunicorn workers have logged that they are ready."""
    return sum('"message": "worker ready"' in line
               for line in log_path.read_text(errors="replace").splitlines())


def require(missing):
    """Fail a test whose real parts are missing, saying what; skip it only when asked.

    ``make test`` installs what it can (Debian's chromium, as root), so a missing part
    is a broken machine, never a quiet pass; SOUTHBOUND_TEST_SKIP_MISSING=1 skips.
    """
    if missing is None:
        return
    if os.environ.get("SOUTHBOUND_TEST_SKIP_MISSING") == "1":
        pytest.skip(missing)
    pytest.fail(f"{missing}; SOUTHBOUND_TEST_SKIP_MISSING=1 skips such tests", pytrace=False)


def browser_missing():
    """Why browser tests cannot run here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def launch(playwright):
    """Headless Debian chromium, with no network of its own (updates, sync, metrics)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


def screenshot(page, name):
    """A full-page screenshot to tests/output/<name>.png (a test artefact, not committed)."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
