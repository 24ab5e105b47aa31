"""`southbound serve --dev` (Flask's server) never runs Werkzeug's debugger, whatever the
environment says (issue 26, item 11): the debugger runs code typed into its console."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from tests.helpers.browser import SB, free_port


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_dev_with_flask_debug_set_runs_no_debugger(tmp_path, registry_path):
    # a .env beside the server asking for debug too (Flask reads it when python-dotenv
    # is installed)
    (tmp_path / ".env").write_text("FLASK_DEBUG=1\n")
    env = {**os.environ, "FLASK_DEBUG": "1", "SOUTHBOUND_REGISTRY": str(registry_path),
           "SOUTHBOUND_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
           "SOUTHBOUND_REPORT_DIR": str(tmp_path / "reports")}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dev.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SB, "serve", "--dev", "--port", str(port)], env=env,
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # the debugger answers its own resources on any path; the app has no such route
        status, body = _get(url + "/no-such-page?__debugger__=yes&cmd=resource&f=debugger.js")
        assert status == 404 and b"function" not in body
        status, body = _get(url + "/no-such-page")
        assert status == 404 and b"Traceback" not in body and b"__debugger__" not in body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Debug mode: off" in text and "Debugger is active" not in text, text
