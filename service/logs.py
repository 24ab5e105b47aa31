"""Structured logs: one JSON object per line on stderr.

A request's line says which route, method, status and time, and who (token name),
never the token, a plate id or a body.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import g, request

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                     + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items()
                    if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level="INFO"):
    """Send the service's logs to stderr as JSON lines (called by the app factory)."""
    logger = logging.getLogger("southbound")
    if not any(getattr(h, "_southbound", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._southbound = True
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def init_app(app):
    configure(app.config["LOG_LEVEL"])
    access = logging.getLogger("southbound.access")

    @app.before_request
    def _request_id():
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]

    @app.after_request
    def _access(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if access.isEnabledFor(logging.INFO):
            access.info("request", extra={
                "request_id": g.get("request_id"), "method": request.method,
                "route": request.url_rule.rule if request.url_rule else None,
                "status": response.status_code, "ms": round(g.get("elapsed", 0.0) * 1000, 2),
                "actor": g.get("actor")})
        return response
