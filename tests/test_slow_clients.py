"""Slow clients against the real server: `southbound serve` (gunicorn) on loopback, with
connections that send their request a header line at a time (issue 26, item 2)."""
import socket
import threading
import time
import urllib.request

import pytest

from tests.helpers.browser import serve


class Trickle:
    """``n`` connections each sending a request line, then a header line every ``every``
    seconds, never ending the header; records when the server closed each one."""

    def __init__(self, url, n, every=1.0):
        host, port = url.removeprefix("http://").split(":")
        self.sockets = [socket.create_connection((host, int(port)), timeout=30)
                        for _ in range(n)]
        self.closed_after = [None] * n
        self.started = time.monotonic()
        self.stop = threading.Event()
        for s in self.sockets:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.threads = [threading.Thread(target=self._drip, args=(i, s, every), daemon=True)
                        for i, s in enumerate(self.sockets)]
        for t in self.threads:
            t.start()

    def _drip(self, i, sock, every):
        line = 0
        while not self.stop.wait(every):
            line += 1
            try:
                sock.sendall(b"X-Slow-%d: x\r\n" % line)
            except OSError:   # the server closed it
                self.closed_after[i] = time.monotonic() - self.started
                return

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        for s in self.sockets:
            s.close()


def _healthz_seconds(url):
    started = time.monotonic()
    with urllib.request.urlopen(url + "/healthz", timeout=40) as response:
        assert response.status == 200
    return time.monotonic() - started


@pytest.fixture
def live(tmp_path, registry_path):
    with serve(tmp_path, registry_path, roles=(), ready=False,
               env={"SOUTHBOUND_RECEIVE_SECONDS": "4"}) as server:
        yield server


@pytest.mark.slow
def test_four_slow_clients_leave_the_service_answering(live):
    """Four connections trickling a header line a second: a fifth client is answered
    at once (gunicorn's sync workers, two of them, made it wait 31.6 s), and each slow
    connection is closed once its request is SOUTHBOUND_RECEIVE_SECONDS late, and one
    that sends nothing after gunicorn's wait for data (5 s)."""
    host, port = live.url.removeprefix("http://").split(":")
    silent = socket.create_connection((host, int(port)), timeout=10)
    trickle = Trickle(live.url, 4)
    try:
        time.sleep(1.5)   # every slow connection has a thread reading it
        seconds = [_healthz_seconds(live.url) for _ in range(3)]
        assert max(seconds) < 5, seconds
        time.sleep(4 + 2.5)  # the deadline, the main loop's one-second tick, a line's wait
        assert all(after is not None and after < 4 + 2.5 for after in trickle.closed_after), \
            trickle.closed_after
        assert silent.recv(1) == b""   # closed by the server, 5-6 s after it connected
    finally:
        trickle.close()
        silent.close()
    assert "request not received within 4 s" in live.log.read_text()


def test_a_slow_body_is_cut_at_the_deadline_and_a_whole_one_is_scored(live):
    """The deadline covers the body too: a POST whose body stops half way is closed
    (a 408 at most), the worker thread freed; a body sent whole is read as before."""
    host, port = live.url.removeprefix("http://").split(":")
    body = b'{"crossing_id": "x"}'
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert time.monotonic() - started < 4 + 2.5
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
    request = urllib.request.Request(live.url + "/v1/score", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401   # read whole, then refused for want of a token
