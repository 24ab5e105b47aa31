"""The Flask service: scores for port officers, outcomes, models and lookouts for analysts.

``create_app(test_config=None)`` applies defaults, then ``SOUTHBOUND_*`` environment
variables, then the test mapping; each helper module offers ``init_app(app)``.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from flask import Flask, request

#: endpoints that never touch the database: they answer while it is down
NO_STORE = frozenset({"health.healthz", "health.readyz", "health.metrics", "health.openapi",
                      "console.index", "static"})


def create_app(test_config=None):
    """Build the app: settings, logs, metrics, store (migrated), tokens, model, blueprints."""
    from service import access, auth, console, errors, holder, logs, metrics, ratelimit
    from service.api import crossings, health, lookouts, models, reports, score, tokens
    from scoring.ports import known_ports
    from scoring import settings
    from scoring.settings import checked, from_environment
    from service.store import Store

    app = Flask(__name__)
    app.config.from_mapping(from_environment())   # SettingError names a bad one
    if test_config:
        app.config.from_mapping(checked(test_config))
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.json.sort_keys = False

    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url, app.config["SQLITE_SYNCHRONOUS"])
    app.extensions["southbound.store"] = store
    # the ports requests may name (a bad ports file stops the start, naming file and row)
    app.extensions["southbound.ports"] = known_ports(app.config["PORTS_FILE"] or None)
    # the same table for the features and reasons (a port's local hour, its name)
    settings.use(ports_file=app.config["PORTS_FILE"] or None)
    seed = str(app.config["RANDOM_SEED"])
    app.extensions["southbound.rng"] = (random.Random(int(seed)) if seed
                                        else random.SystemRandom())

    logs.init_app(app)
    _schema_at_start(app, store)
    metrics.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    access.init_app(app)
    ratelimit.init_app(app)
    holder.init_app(app)
    served = app.extensions["southbound.models"].served
    if served is not None:
        app.extensions["southbound.metrics"].model.labels(served.version).set(1)
    for module in (score, crossings, models, lookouts, reports, tokens, health,
                   console):
        app.register_blueprint(module.bp)
    return app


def _schema_at_start(app, store):
    """Migrate now if the database answers; else log it, and migrate at the first request
    that needs the database (503 until then), rather than fail the worker's boot."""
    import sqlalchemy as sa
    try:
        store.ensure_schema()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        logging.getLogger("southbound.service").error(
            "store unavailable at start (%s): answering 503 until it is back",
            type(exc).__name__)

    @app.before_request
    def _schema_current():
        if request.endpoint is not None and request.endpoint not in NO_STORE:
            store.ensure_schema()  # a flag test once migrated; errors are 503s
