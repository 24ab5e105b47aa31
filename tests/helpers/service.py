"""API test helpers: crossing bodies, store rows, the error shape, an app and its tokens."""
from __future__ import annotations

import sqlalchemy as sa


def outbound(i=1, **values):
    """An outbound crossing body ``o{i}``, with overrides."""
    body = {"crossing_id": f"o{i}", "crossed_at": "2025-03-04T11:48:00-06:00",
            "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
            "body_type": "pickup", "plate_id": "P1", "plate_jurisdiction": "US-TX",
            "vehicle_model_year": 2024, "registration_age_days": 12, "occupants": 1}
    body.update(values)
    return body


def inbound(i=1, **values):
    """An inbound crossing body ``i{i}``, with overrides."""
    body = {"crossing_id": f"i{i}", "crossed_at": "2025-03-04T10:00:00-06:00",
            "direction": "inbound", "port_code": "2402", "vehicle_class": "personal",
            "plate_id": "P1"}
    body.update(values)
    return body


def soon(days=30):
    """An ISO-8601 UTC time ``days`` ahead: a lookout's expiry within its bounded lifetime."""
    from datetime import datetime, timedelta, timezone
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(app, table, **where):
    """The rows of one store table (as dicts), filtered by equality on columns."""
    with app.extensions["southbound.store"].engine.connect() as conn:
        query = sa.select(table)
        for key, value in where.items():
            query = query.where(table.c[key] == value)
        return [dict(r) for r in conn.execute(query).mappings()]


def assert_error(response, status, code, field=None):
    """The response is the API's one error shape with this status, code and field."""
    assert response.status_code == status, response.json
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message", "field"}
    assert response.json["error"]["code"] == code
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]


def make_app(database_url, registry_root, tmp_path, **more):
    """An app on this database and registry, with test settings and overrides."""
    from service import create_app
    return create_app({"DATABASE_URL": database_url, "REGISTRY": str(registry_root),
                       "REPORT_DIR": str(tmp_path / "reports"), "TOKEN_CACHE_SECONDS": 0,
                       "MODEL_CHECK_SECONDS": 0, "RANDOM_SEED": 1, "LOG_LEVEL": "WARNING",
                       "RATE_LIMIT_PER_MINUTE": 0, "AUTH_FAILURES_PER_MINUTE": 0, **more})


def tokens_for(app):
    """Authorization headers for an officer and an analyst of ``app``."""
    from service.auth import create_token
    store = app.extensions["southbound.store"]
    return {role: {"Authorization": f"Bearer {create_token(store, role, role + '-test')}"}
            for role in ("officer", "analyst")}
