"""Model report pages, built outside the request workers and cached on disk.

A page depends on the version reported on, the model in service drawn beside it and
the store's traffic. It is cached in ``REPORT_DIR`` under the first two and the UTC
day the store's data ends (its latest crossing or outcome): not under row counts,
which change with every score. ``GET /reports/<version>`` serves a cached page, or
starts a build and answers 202: the build runs in a child process (``python -m
service.report_jobs``, at a lower CPU priority), never in the worker that took the
request, so a booth's score never waits behind a report.

One process of all workers builds each page, and one page is built at a time in an
instance (each build loads the whole store): the worker that starts a build takes an
exclusive ``flock`` on the page's lock file and on the folder's :data:`BUILDER_LOCK`,
and hands both open files to the child, which holds them as long as it lives (the kernel
drops them when the child exits, even if it dies). A request for another page meanwhile
is told to come back (:class:`Busy`: a 503 with ``Retry-After``). A build that fails leaves ``<page>.error.json`` (status, code, message), served
as the answer for :data:`ERROR_SECONDS`, after which the next request tries again.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

#: what the 202 asks a client to wait before asking again, in seconds
RETRY_AFTER = 5
#: how long a failed build's answer stands before the next request builds again
ERROR_SECONDS = 60
#: cached pages kept (the newest); older ones are removed after each build
KEEP_PAGES = 64
#: the builder's niceness: scoring workers come first on a busy machine
NICENESS = 10
#: the lock file held by the one build of the instance (beside the pages it builds)
BUILDER_LOCK = "builder.lock"


class Busy(Exception):
    """Another page is being built in this instance: ask again later."""


def data_day(micros):
    """The UTC day (``YYYY-MM-DD``) of a time in µs, or None."""
    if micros is None:
        return None
    return datetime.fromtimestamp(int(micros) / 1e6, tz=timezone.utc).strftime("%Y-%m-%d")


def page_name(version, served, day):
    """The cache file's stem: the version, the model in service and the data's last day."""
    return f"{version}__{served or 'none'}__{day}"


class ReportJobs:
    """The report cache of one service (shared by its workers through ``root``).

    Parameters
    ----------
    root : Path
        Cache folder (created on first build).
    environment : dict
        ``SOUTHBOUND_*`` variables the builder needs: database, registry, public key.
    """

    def __init__(self, root, environment):
        self.root = Path(root)
        self.environment = dict(environment)
        self.children = []  # builds started by this worker, reaped as they end
        self._lock = threading.Lock()

    def page(self, name):
        return self.root / f"{name}.html"

    def lookup(self, name):
        """("ready", html bytes), ("failed", error dict) or (None, None) for one page."""
        self.reap()
        try:
            return "ready", self.page(name).read_bytes()
        except FileNotFoundError:
            pass
        error = self.root / f"{name}.error.json"
        try:
            if time.time() - error.stat().st_mtime < ERROR_SECONDS:
                return "failed", json.loads(error.read_text())
        except (OSError, ValueError):
            pass
        return None, None

    def start(self, name, version, served):
        """Start building a page unless some process is building it; True if started
        here. Raises :class:`Busy` while another page is being built."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        builder = None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another worker's child is at it
            if self.page(name).exists():  # finished between the lookup and the lock
                return False
            builder = os.open(self.root / BUILDER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(builder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(name) from None  # another page's build holds the instance
            command = [sys.executable, "-m", "service.report_jobs", "--version", version,
                       "--out", str(self.page(name)), "--lock-fd", str(fd),
                       "--lock-fd", str(builder)]
            if served:
                command += ["--served", served]
            child = subprocess.Popen(command, pass_fds=(fd, builder), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, start_new_session=True,
                                     env=os.environ | self.environment)
            with self._lock:
                self.children.append(child)
            return True
        finally:
            os.close(fd)  # the child holds the locks from here on
            if builder is not None:
                os.close(builder)

    def reap(self):
        """Collect the exit status of builds that ended (no zombies in a worker)."""
        with self._lock:
            self.children = [c for c in self.children if c.poll() is None]

    def wait(self, timeout):
        """Wait for this worker's builds to end (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        for child in list(self.children):
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        self.reap()
        return True


# --- the builder (a child process) ---------------------------------------------

def build(version, served, out):
    """Build one page from the store and the registry named by ``SOUTHBOUND_*``; write it
    to ``out`` (or ``<out stem>.error.json`` with the answer the route should give)."""
    from models.registry import Registry, RegistryError
    from scoring.contract import parse_frame
    from scoring.policy import PolicyConfig
    from service.errors import without_paths
    from service.export import export_frame
    from scoring.settings import from_environment
    from service.store import Store
    from training.report import ReportError, build_report

    settings = from_environment()
    out = Path(out)
    error = out.with_suffix(".error.json")
    registry = Registry(settings["REGISTRY"], private_key=None,
                        public_key=settings["PUBLIC_KEY"] or None,
                        allow_unsigned=settings["INSECURE_UNSIGNED_MODELS"])
    try:
        model, manifest = registry.load(version)
        active = None
        if served:
            active = (model, manifest) if served == version else registry.load(served)
        store = Store(settings["DATABASE_URL"], settings["SQLITE_SYNCHRONOUS"])
        try:
            frame = parse_frame(export_frame(store), source="the store").frame
        finally:
            store.engine.dispose()
        policy = (PolicyConfig.from_toml(settings["POLICY_FILE"]) if settings["POLICY_FILE"]
                  else PolicyConfig())
        html = build_report(model, manifest, frame, active=active, policy=policy,
                            comparison=registry.comparison(version))
    except RegistryError as exc:
        missing = "no model version" in str(exc)
        _write_error(error, 404 if missing else 409, "not_found" if missing
                     else "artifact_refused", without_paths(exc, registry.root), "version")
        return 1
    except ReportError as exc:
        _write_error(error, 404, "no_traffic", f"the store: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - the route must answer something, not wait
        _write_error(error, 503, "report_unavailable",
                     "building the report failed: "
                     + without_paths(f"{type(exc).__name__}: {exc}", registry.root))
        raise
    _atomic_write(out, html.encode("utf-8"))
    error.unlink(missing_ok=True)
    _prune(out.parent)
    return 0


def _write_error(path, status, code, message, field=None):
    _atomic_write(path, json.dumps({"status": status, "code": code, "message": message,
                                    "field": field}).encode())


def _atomic_write(path, data):
    from scoring.private import open_private
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open_private(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _prune(root, keep=KEEP_PAGES):
    pages = sorted(root.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in pages[keep:]:  # lock files stay: removing one could let two builds run
        old.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build one model report page (a child "
                                                 "of a service worker).")
    parser.add_argument("--version", required=True)
    parser.add_argument("--served")
    parser.add_argument("--out", required=True)
    parser.add_argument("--lock-fd", type=int, action="append",
                        help="a locked lock file (the page's, the instance's builder's), "
                             "held until this process ends")
    args = parser.parse_args(argv)
    os.nice(NICENESS)
    return build(args.version, args.served, args.out)


if __name__ == "__main__":
    sys.exit(main())
