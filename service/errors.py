"""One error shape for the whole API: ``{"error": {"code", "message", "field"}}``."""
from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import jsonify
from werkzeug.exceptions import HTTPException

from scoring.contract import ContractError
from service.store import StoreUnavailable

log = logging.getLogger("southbound.service")


class ApiError(Exception):
    """An answer other than success: HTTP status, a stable code, a message, the field."""

    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_body(code, message, field=None):
    """The JSON body of every error answer."""
    return {"error": {"code": code, "message": message, "field": field}}


def _answer(status, code, message, field=None):
    response = jsonify(error_body(code, message, field))
    response.status_code = status
    return response


#: an absolute path in a message: from a start, a space, a quote or a parenthesis
_PATH = re.compile(r"(?<![^\s'\"(=])/[^\s'\":,;()]+")


def without_paths(message, registry=None):
    """``message`` as an answer may say it, naming no server path (the log keeps them).

    The registry's folder (``registry``, as configured or resolved) is "the registry";
    any other absolute path is its file name ("manifest.json is unreadable"): the
    version in the message says which model.
    """
    message = str(message)
    if registry is not None:
        for form in sorted({str(registry), str(Path(registry).resolve())}, key=len,
                           reverse=True):
            message = re.sub(re.escape(form) + r"(?![^\s'\":,;()])", "the registry", message)
    return _PATH.sub(lambda m: PurePosixPath(m.group(0)).name or "a file", message)


def from_contract(exc, prefix=""):
    """A 400 for a value that breaks the crossing-log contract, naming the field."""
    field = f"{prefix}{exc.column}" if exc.column else (prefix.rstrip(".") or None)
    return ApiError(400, "invalid_value", exc.message, field)


def init_app(app):
    @app.errorhandler(ApiError)
    def _api_error(exc):
        response = _answer(exc.status, exc.code, exc.message, exc.field)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(ContractError)
    def _contract_error(exc):
        error = from_contract(exc)
        return _answer(error.status, error.code, error.message, error.field)

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.InterfaceError)
    def _store_down(exc):
        log.error("store unavailable: %s", type(exc).__name__)
        return _answer(503, "store_unavailable", "the database cannot be reached; retry shortly")

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = {413: "payload_too_large", 404: "not_found", 405: "method_not_allowed",
                400: "bad_request", 415: "unsupported_media_type"}.get(exc.code, "http_error")
        message = exc.description or exc.name
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than {limit} bytes"
        return _answer(exc.code, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unexpected error")
        return _answer(500, "internal_error", "an unexpected error occurred; it has been logged")
