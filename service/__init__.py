"""The Flask service: scores for port officers, outcomes, models and lookouts for analysts.

``create_app(test_config=None)`` applies defaults, then ``SOUTHBOUND_*`` environment
variables, then the test mapping; each helper module offers ``init_app(app)``.
"""
from __future__ import annotations

import random
from pathlib import Path

from flask import Flask


def create_app(test_config=None):
    """Build the app: settings, logs, metrics, store (migrated), tokens, model, blueprints."""
    from service import auth, console, errors, holder, logs, metrics, ratelimit
    from service.api import crossings, health, lookouts, models, reports, score
    from service.settings import from_environment
    from service.store import Store

    app = Flask(__name__)
    app.config.from_mapping(from_environment())
    if test_config:
        app.config.from_mapping(test_config)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.json.sort_keys = False

    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url, app.config["SQLITE_SYNCHRONOUS"])
    store.migrate()
    app.extensions["southbound.store"] = store
    seed = str(app.config["RANDOM_SEED"])
    app.extensions["southbound.rng"] = (random.Random(int(seed)) if seed
                                        else random.SystemRandom())

    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app)
    holder.init_app(app)
    served = app.extensions["southbound.models"].served
    if served is not None:
        app.extensions["southbound.metrics"].model.labels(served.version).set(1)
    for module in (score, crossings, models, lookouts, reports, health, console):
        app.register_blueprint(module.bp)
    return app
