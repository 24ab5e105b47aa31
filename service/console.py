"""The port officers' console at ``/``: one page and its static files, under a strict CSP.

The page needs no token: the officer's browser keeps it (``sessionStorage``) and
calls API v1 with it. Every asset is served from ``service/static/console/``.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from scoring.ports import port_table

bp = Blueprint("console", __name__)

#: no inline script or style anywhere: all of it lives in the static files
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@bp.get("/")
def index():
    """The console page, with the ports to choose from (the port table the API takes) and
    each port's IANA zone (the same column the local-time features read), for its times."""
    table = port_table(current_app.config["PORTS_FILE"] or None)
    return render_template("console.html", ports=sorted(
        (code, row["port_name"], row.get("time_zone", "")) for code, row in table.items()))


@bp.after_app_request
def _secure(response):
    # the console's static files get the headers too (an SVG can carry script)
    console_asset = (request.endpoint == "static"
                     and (request.view_args or {}).get("filename", "").startswith("console/"))
    if request.endpoint == "console.index" or console_asset:
        response.headers.update(SECURITY_HEADERS)
    return response
