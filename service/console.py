"""The port officers' console at ``/``: one page and its static files, under a strict CSP.

The page needs no token: the officer's browser keeps it (``sessionStorage``) and
calls API v1 with it. Every asset is served from ``service/static/console/``; the
script is native ES modules (``main.js`` and what it imports), served as they are.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from scoring.ports import port_table

bp = Blueprint("console", __name__)

#: no inline script or style anywhere: all of it lives in the static files
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"))

#: the report page: its style inline, its figures data: images, nothing else
REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
#: every other answer (JSON, metrics, documents): nothing may load from it
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

#: on every answer: no sniffing, no referrer, no framing, nothing kept in a cache
#: (answers name crossings, plates and decisions)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@bp.get("/")
def index():
    """The console page, with the ports to choose from (the port table the API takes) and
    each port's IANA zone (the same column the local-time features read), for its times."""
    table = port_table(current_app.config["PORTS_FILE"] or None)
    return render_template("console.html", ports=sorted(
        (code, row["port_name"], row.get("time_zone", "")) for code, row in table.items()))


def _console_asset():
    """The file name of the console asset this request asks for, or None."""
    filename = (request.view_args or {}).get("filename", "")
    return filename if request.endpoint == "static" and filename.startswith("console/") else None


@bp.after_app_request
def _secure(response):
    """The security headers on every answer, and the content policy that fits it: the
    console's (its static files too: an SVG can carry script), the report page's, or
    none loads anything."""
    if request.endpoint == "console.index" or _console_asset():
        policy = CONTENT_SECURITY_POLICY
    elif response.mimetype == "text/html":
        policy = REPORT_POLICY
    else:
        policy = DATA_POLICY
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = policy
    return response


@bp.after_app_request
def _module_type(response):
    """The console's scripts as JavaScript whatever the host's MIME table says (Windows'
    registry can map .js to text/plain): under nosniff a browser runs no module script
    served as anything else."""
    if (_console_asset() or "").endswith(".js") and response.status_code == 200:
        response.mimetype = "text/javascript"
    return response
