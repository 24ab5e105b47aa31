"""The model report for analysts: ``GET /reports/<version>``, one self-contained HTML page.

The page is built from the store's traffic (its crossings exported as a log)
with the model in service drawn beside the requested one. Building it takes
seconds, so each worker keeps the last few pages, keyed by what they were built
from: the version, the model in service and the numbers of stored crossings and
outcomes (a new crossing or outcome makes a new page).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import sqlalchemy as sa
from flask import Blueprint, Response, current_app

from models.registry import RegistryError
from scoring.contract import parse_frame
from service.auth import require
from service.errors import ApiError
from service.export import export_frame
from service.store import crossings, outcomes
from training.report import ReportError, build_report

bp = Blueprint("reports", __name__)
PAGES = "southbound.reports"


class PageCache:
    """The last ``size`` rendered pages of a worker, least recently used dropped first."""

    def __init__(self, size=8):
        self.size = size
        self.pages = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.pages:
                self.pages.move_to_end(key)
            return self.pages.get(key)

    def put(self, key, page):
        with self.lock:
            self.pages[key] = page
            self.pages.move_to_end(key)
            while len(self.pages) > self.size:
                self.pages.popitem(last=False)


@bp.record_once
def _init(state):
    state.app.extensions[PAGES] = PageCache()


def get_model(registry, version):
    """(model, manifest) of a registered version: 404 if unknown, 409 if its artifact fails."""
    if version.startswith("."):  # not a way out of the versions folder
        raise ApiError(404, "not_found", f"no model version {version!r}", "version")
    try:
        return registry.load(version)
    except RegistryError as exc:
        if "no model version" in str(exc):
            raise ApiError(404, "not_found", str(exc), "version") from None
        raise ApiError(409, "artifact_refused", str(exc), "version") from None


def _served(holder):
    """The model in service, or None when there is none (the report still renders)."""
    try:
        return holder.current()
    except ApiError:
        return None


def _stored_counts(store):
    with store.engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                     for table in (crossings, outcomes))


@bp.get("/reports/<version>")
@require("analyst")
def report(version):
    """The model report on the store's traffic; 404 for an unknown version or no traffic."""
    ext = current_app.extensions
    store, holder, cache = ext["southbound.store"], ext["southbound.models"], ext[PAGES]
    served = _served(holder)
    key = (version, served.version if served else None) + _stored_counts(store)
    page = cache.get(key)
    if page is None:
        model, manifest = ((served.model, served.manifest) if served and served.version == version
                           else get_model(holder.registry, version))
        frame = parse_frame(export_frame(store), source="the store").frame
        try:
            page = build_report(model, manifest, frame,
                                active=(served.model, served.manifest) if served else None)
        except ReportError as exc:
            raise ApiError(404, "no_traffic", f"the store: {exc}") from None
        cache.put(key, page)
    return Response(page, mimetype="text/html")
