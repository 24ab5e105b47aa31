"""What an unauthenticated caller can learn: which part is down, never where it lives.

The service is started with its database unreachable (a PostgreSQL URL on a closed
loopback port) and a registry with no model; every route that needs no token is
asked, and no answer may carry the database's host, port, user or driver, nor the
registry's path. The details go to the log, where operators read them.
"""
from __future__ import annotations

import logging

from tests.helpers.browser import free_port


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_public_answers_name_what_is_down_and_nothing_of_where(tmp_path):
    from service import create_app

    port = free_port()
    registry = tmp_path / "registry-secret-place"
    url = f"postgresql+psycopg://sb_operator@127.0.0.1:{port}/sb_private"
    app = create_app({"DATABASE_URL": url, "REGISTRY": str(registry), "LOG_LEVEL": "ERROR"})
    client = app.test_client()
    public = sorted(rule.rule for rule in app.url_map.iter_rules()
                    if "GET" in rule.methods and not rule.arguments)
    secrets = ["127.0.0.1", str(port), "sb_operator", "sb_private", "psycopg",
               "postgresql", str(tmp_path), "registry-secret-place"]
    collect = Collect()
    logging.getLogger("southbound.service").addHandler(collect)
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        error = ready.json["error"]
        assert error["code"] == "not_ready"
        assert "store unavailable" in error["message"] and "no model" in error["message"]
        for route in public + ["/v1/score", "/v1/model"]:
            body = client.get(route).get_data(as_text=True)
            leaked = [s for s in secrets if s in body]
            assert not leaked, (route, leaked, body[:300])
    finally:
        logging.getLogger("southbound.service").removeHandler(collect)
    # the operator still learns why, from the log
    logged = " ".join(collect.messages)
    assert "not ready: store unavailable" in logged and str(registry) in logged
    app.extensions["southbound.store"].engine.dispose()
