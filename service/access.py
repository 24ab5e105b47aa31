"""Reads of persons are recorded: a look-up of a crossing, a port's lane or the lookouts
writes an audit row with who (the token's name), when, what (the crossing id, or the port
and the count returned) and from where (the client's address), committed before the
answer is sent, in the same hash-chained trail as every write.

The client's address is the connection's peer. Behind ``TRUSTED_PROXIES`` reverse
proxies it is the one the nearest of them wrote in ``X-Forwarded-For`` (werkzeug's
``ProxyFix`` counts that many entries from the right); without the setting the header is
ignored, since any client can write it.
"""
from __future__ import annotations

from flask import current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app):
    """Take the client's address from ``X-Forwarded-For`` only behind configured proxies."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=0, x_host=0, x_port=0,
                                x_prefix=0)


def client_address():
    """The address the request came from, as :func:`init_app` decided to trust it."""
    return request.remote_addr or "unknown"


def record_read(conn, action, target=None, **detail):
    """Append the audit row of a read by the caller (``g.actor``) in ``conn``'s write
    transaction (:meth:`~service.store.Store.write`): it is durable before the answer."""
    store = current_app.extensions["southbound.store"]
    store.audit(conn, g.actor, action, target=target, client=client_address(), **detail)
