"""Running the app: gunicorn threaded workers that give each request a deadline to
arrive, or Flask's development server.

gunicorn's sync worker reads a request with a blocking call and no deadline: a client
that sends its header a line every few seconds holds the whole worker, and two such
clients held both (the arbiter then killed them for timeout). A threaded worker reads
each request in one of its threads while its main loop stays free, and gives a new
connection that sends nothing back to that loop after a few seconds; but a thread reads
a request as long as its bytes trickle in, so :class:`ReceivingWorker` closes a
connection whose request (header and body) has not wholly arrived ``receive_seconds``
after a thread took it, and :func:`receive_whole` reads the body before the app runs, so
that the deadline covers it.

The threads receive and send; the app itself runs one request at a time in a worker
(:data:`APP`), and a worker accepts new connections only while none of its requests is
in the app or waiting for it, with no keep-alive: so, as with sync workers, a request
goes to a worker that is free rather than queueing behind another in a busy one, and
the threads never contend for the interpreter over the app's work (requests run side by
side in one worker held the booth's p99 well above the sync workers': see
benchmarks/README.md). A new connection that sends nothing for a few seconds (gunicorn's
wait for data) is closed.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import tempfile
import threading
import time

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

#: the worker thread's own request, for :func:`receive_whole` to say it arrived
_receiving = threading.local()


class AppGate:
    """One request in the app at a time (in a worker process), and how many are in it or
    waiting for it."""

    def __init__(self):
        self.turn = threading.Lock()
        self._count = threading.Lock()
        self.entered = 0

    def busy(self):
        return self.entered > 0

    def run(self, app, environ, start_response):
        with self._count:
            self.entered += 1
        try:
            with self.turn:
                return app(environ, start_response)
        finally:
            with self._count:
                self.entered -= 1


#: this worker process's gate
APP = AppGate()


class ReceivingWorker(ThreadWorker):
    """gunicorn's threaded worker, with a deadline for each request to arrive.

    The deadline (the ``receive_seconds`` passed to :func:`run`) starts when a thread
    takes the connection (a new one, or a kept-alive one whose next request has begun to
    arrive) and ends when the app gets the whole request; the main loop, which wakes at
    least once a second, shuts down a late connection's socket, so the thread's read
    returns and the thread is free again.
    """

    receive_seconds = 10.0

    def init_process(self):
        self._deadlines = {}
        self._deadlines_lock = threading.Lock()
        super().init_process()

    def handle(self, conn):
        with self._deadlines_lock:
            self._deadlines[conn] = time.monotonic() + self.receive_seconds
        _receiving.done = lambda: self._received(conn)
        try:
            return super().handle(conn)
        finally:
            _receiving.done = None
            self._received(conn)

    def _received(self, conn):
        with self._deadlines_lock:
            self._deadlines.pop(conn, None)

    def set_accept_enabled(self, enabled):
        # the main loop asks again at each turn: a free worker takes the next connection
        super().set_accept_enabled(enabled and not APP.busy())

    def accept(self, listener):
        if APP.busy():   # leave it in the backlog for a free worker
            self.set_accept_enabled(False)
            return
        super().accept(listener)

    def murder_keepalived(self, *args, **kwargs):
        # called by the main loop at every turn (at least once a second)
        super().murder_keepalived(*args, **kwargs)
        now = time.monotonic()
        with self._deadlines_lock:
            late = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
            for conn in late:
                del self._deadlines[conn]
        for conn in late:
            logging.getLogger("southbound.service").warning(
                "request not received within %g s: connection closed", self.receive_seconds,
                extra={"client": conn.client[0] if isinstance(conn.client, tuple) else None})
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass   # the client went already


def receive_whole(app, max_bytes):
    """WSGI middleware: read the request body (at most ``max_bytes`` + 1: Flask answers
    413 above ``max_bytes``) before ``app`` runs, then end the request's deadline."""
    def wsgi(environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        wanted = (int(length) if length.isdigit() and int(length) <= max_bytes
                  else max_bytes + 1 if chunked else 0)
        if wanted:
            body = _read(environ["wsgi.input"], wanted)
            if length.isdigit() and len(body) < wanted:   # cut off at the deadline
                start_response("408 Request Timeout", [("Content-Type", "text/plain"),
                                                      ("Connection", "close")])
                return [b"request not received in time\n"]
            environ["wsgi.input"] = io.BytesIO(body)
        done = getattr(_receiving, "done", None)
        if done is not None:
            done()
        return APP.run(app, environ, start_response)
    return wsgi


def _read(stream, size):
    parts, left = [], size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class _Gunicorn(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from service import create_app
        app = create_app()
        return receive_whole(app, int(app.config["MAX_CONTENT_LENGTH"]))


def _post_worker_init(worker):
    # after the app is built in this worker: it takes requests from now on
    logging.getLogger("southbound.service").info("worker ready", extra={"pid": worker.pid})


def _child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


class AddressInUse(OSError):
    """The address to serve on is taken (another server, an earlier demo)."""


def check_free(host, port):
    """AddressInUse, saying what to do, when ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AddressInUse(f"cannot serve on {host}:{port}: {exc.strerror or exc}; "
                               "stop what holds it or choose another port "
                               "(southbound serve --port N, PORT=N make demo)") from None


def gunicorn_options(host, port, workers, threads, receive_seconds):
    """gunicorn's settings for :func:`run` (threaded workers, see the module's docstring)."""
    worker_class = type("ReceivingWorker", (ReceivingWorker,),
                        {"receive_seconds": float(receive_seconds)})
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": worker_class,
            "threads": threads, "timeout": 30, "graceful_timeout": 10, "keepalive": 0,
            "accesslog": None, "errorlog": "-", "loglevel": "warning",
            "post_worker_init": _post_worker_init, "child_exit": _child_exit}


def run(host, port, workers, dev=False, threads=8, receive_seconds=10.0):
    """Serve until stopped. Workers each load the app (no preloading: no shared sockets)."""
    check_free(host, port)
    if dev:
        from service import create_app
        app = create_app()
        # never Werkzeug's debugger (it runs code typed into an error page), whatever
        # FLASK_DEBUG or a .env file says: run()'s own debug=False overrides them
        app.debug = False
        app.run(host=host, port=port, debug=False, use_debugger=False, use_reloader=False,
                load_dotenv=False)
        return
    # per-process metric files, added up by /metrics; fresh at every start
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="southbound-metrics-")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    _Gunicorn(gunicorn_options(host, port, workers, threads, receive_seconds)).run()
