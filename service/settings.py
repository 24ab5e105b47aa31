"""The service's settings, declared once: (name, default, help).

Each is read from the environment variable ``SOUTHBOUND_<NAME>``; the app
factory applies defaults, then the environment, then the test mapping. The
README's configuration table is checked against this table by a test.
"""
from __future__ import annotations

import os

SETTINGS = (
    ("DATABASE_URL", "sqlite:///var/southbound.db",
     "SQLAlchemy URL of the store: SQLite file (default) or postgresql+psycopg://…"),
    ("REGISTRY", "var/registry", "model registry folder; its active version is served"),
    ("REPORT_DIR", "var/reports", "cache of built model report pages (GET /reports/...), "
                                  "shared by the workers"),
    ("POLICY_FILE", "", "referral policy TOML (random share, capacity per port, bands); "
                        "empty for the built-in defaults"),
    ("SQLITE_SYNCHRONOUS", "FULL", "SQLite synchronous pragma under WAL: FULL survives "
                                   "power loss, NORMAL only a crash of the process"),
    ("BATCH_LIMIT", "500", "most crossings in one POST /v1/score/batch"),
    ("MAX_BODY_BYTES", "1048576", "largest request body accepted (413 above)"),
    ("THRESHOLD_WINDOW", "2000", "recent scores per port that the model threshold follows"),
    ("MODEL_CHECK_SECONDS", "2", "how often a worker checks the registry for a new active "
                                 "model or shadow"),
    ("THRESHOLD_REFRESH_SECONDS", "2", "how often a worker reads each port's recent scores "
                                       "from the store again, so that every worker and "
                                       "instance refers at one threshold"),
    ("PUBLIC_KEY", "var/keys/signing.pub",
     "Ed25519 public key (PEM) that every model's manifest signature is verified with "
     "before its artifact is read; the service never holds the private key. The commands "
     "read the same variable"),
    ("INSECURE_UNSIGNED_MODELS", "0", "1: insecure development mode, models load without a "
                                      "signature check (any file in the registry can run "
                                      "code in the service), said at start; never in "
                                      "production"),
    ("TOKEN_CACHE_SECONDS", "10", "how long a worker trusts a token lookup (revocation delay)"),
    ("RATE_LIMIT_PER_MINUTE", "6000", "requests a token may make per minute (429 above); "
                                      "0 switches the limit off"),
    ("REDIS_URL", "", "Redis URL (redis://127.0.0.1:6379/0) to share rate-limit counts "
                      "across workers and instances; empty counts per worker"),
    ("PORTS_FILE", "", "a CSV of ports added to the shipped port table (columns port_code, "
                       "port_name, as scoring/data/sw_border_ports.csv); the API takes "
                       "crossings only at the table's ports. The commands read it too"),
    ("MAX_CLOCK_SKEW_SECONDS", "900", "how far in the future a crossed_at may be (the "
                                      "booth's clock ahead of the server's) before the API "
                                      "refuses it"),
    ("LOG_LEVEL", "INFO", "log level of the JSON log lines on stderr"),
    ("RANDOM_SEED", "", "seed of the random referrals, for tests and replays only; empty "
                        "draws from the operating system"),
)
INTEGER = {"BATCH_LIMIT", "MAX_BODY_BYTES", "THRESHOLD_WINDOW", "RATE_LIMIT_PER_MINUTE"}
FLAG = {"INSECURE_UNSIGNED_MODELS"}
NUMBER = {"MODEL_CHECK_SECONDS", "THRESHOLD_REFRESH_SECONDS", "TOKEN_CACHE_SECONDS",
          "MAX_CLOCK_SKEW_SECONDS"}


def from_environment(environ=os.environ):
    """Settings from defaults overridden by ``SOUTHBOUND_*`` variables, typed."""
    out = {}
    for name, default, _ in SETTINGS:
        value = environ.get(f"SOUTHBOUND_{name}", default)
        if name in INTEGER:
            value = int(value)
        elif name in NUMBER:
            value = float(value)
        elif name in FLAG:
            value = value.strip().lower() in ("1", "true", "yes", "on")
        out[name] = value
    return out
