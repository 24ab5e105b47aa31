"""Running the app: gunicorn sync workers, or Flask's development server."""
from __future__ import annotations

import os
import shutil
import socket
import tempfile

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from service import create_app
        return create_app()


def _post_worker_init(worker):
    # after the app is built in this worker: it takes requests from now on
    import logging
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


def run(host, port, workers, dev=False):
    """Serve until stopped. Workers each load the app (no preloading: no shared sockets)."""
    check_free(host, port)
    if dev:
        from service import create_app
        # never Werkzeug's debugger (it runs code typed into an error page), whatever
        # FLASK_DEBUG says
        create_app().run(host=host, port=port, debug=False, use_debugger=False,
                         use_reloader=False)
        return
    # per-process metric files, added up by /metrics; fresh at every start
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="southbound-metrics-")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
               "timeout": 30, "graceful_timeout": 10, "keepalive": 5,
               "accesslog": None, "errorlog": "-", "loglevel": "warning",
               "post_worker_init": _post_worker_init, "child_exit": _child_exit}).run()
