"""Southbound's settings, declared once: (name, default, help, parse); the one module
that reads ``SOUTHBOUND_*`` variables.

Each service setting is read from the environment variable ``SOUTHBOUND_<NAME>``; the app
factory applies defaults, then the environment, then the test mapping. ``parse``
gives a setting its type and range: it turns the text (or a test mapping's value)
into the value the service uses, or raises ValueError saying what is allowed, so a
bad setting stops the start (and ``southbound serve --check``) with one line naming
the variable and its value, before any worker starts. The README's configuration
table is checked against this table by a test.

The scoring core's own values (the working folder, the registry, the site's port table,
the Dask scheduler) are a :class:`Site`, read from the environment once per process
(:func:`site`), or set by the command line and ``create_app`` (:func:`use`); functions
below them take values, never the environment.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, NamedTuple

PREFIX = "SOUTHBOUND_"


class SettingError(ValueError):
    """A setting of the wrong type or out of range; the message names it and its value."""


class Setting(NamedTuple):
    name: str
    default: str
    help: str
    parse: Callable = str


def _text(value):
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def integer(low, high=None):
    """A whole number in [low, high]."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"is not a whole number (>= {low})")
        try:
            number = int(value.strip()) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(f"is not a whole number (>= {low})") from None
        _in_range(number, low, high)
        return number
    return parse


def number(low, high=None):
    """A finite number in [low, high]."""
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"is not a number (>= {low:g})")
        try:
            out = float(value)
        except ValueError:
            raise ValueError(f"is not a number (>= {low:g})") from None
        if not math.isfinite(out):
            raise ValueError(f"is not a finite number (>= {low:g})")
        _in_range(out, low, high)
        return out
    return parse


def _in_range(value, low, high):
    if value < low or (high is not None and value > high):
        raise ValueError(f"is out of range: from {low:g}" + (f" to {high:g}" if high is not None
                                                              else " up"))


def choice(*allowed):
    """One of ``allowed`` (any case), as written in ``allowed``."""
    def parse(value):
        text = _text(value).strip().upper()
        if text not in allowed:
            raise ValueError(f"is not one of {', '.join(allowed)}")
        return text
    return parse


def path(value):
    """A folder or file path (not empty)."""
    text = _text(value).strip()
    if not text:
        raise ValueError("is empty: give a path")
    return text


def optional_seed(value):
    """Empty, or a whole number >= 0."""
    if isinstance(value, str) and not value.strip():
        return ""
    return integer(0)(value)


def database_url(value):
    """A SQLAlchemy URL of SQLite or PostgreSQL whose driver is installed."""
    import sqlalchemy as sa
    text = _text(value).strip()
    try:
        url = sa.engine.make_url(text)
    except sa.exc.ArgumentError:
        raise ValueError("is not a database URL (sqlite:///var/southbound.db or "
                         "postgresql+psycopg://user@host:5432/db)") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"names the database {url.get_backend_name()!r}: the store is "
                         "SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://"
                         "user@host:5432/db)")
    try:
        url.get_dialect().import_dbapi()
    except (ImportError, sa.exc.NoSuchModuleError):
        raise ValueError(f"names the driver {url.get_driver_name()!r}, which is not "
                         "installed: use postgresql+psycopg://") from None
    return text


def optional_days(value):
    """Empty (no limit), or a whole number of days >= 1. Its own reading of empty, None,
    reads as empty again (an app's settings are read once more when passed on, e.g. to
    the workers of a replay)."""
    if value is None or isinstance(value, str) and not value.strip():
        return None
    return integer(1)(value)


def redis_url(value):
    """Empty, or a Redis URL."""
    text = _text(value).strip()
    if text and text.split("://", 1)[0] not in ("redis", "rediss", "unix"):
        raise ValueError("is not a Redis URL (redis://127.0.0.1:6379/0)")
    return text


def flag(value):
    """On or off: 1/true/yes/on or 0/false/no/off (or empty)."""
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("is not 1 or 0 (on or off)")


def public_key(value):
    """Empty (no key: nothing loads unless in the insecure mode), or a path."""
    return _text(value).strip()


def policy_file(value):
    """Empty, or a referral policy TOML that reads (an unknown key is refused)."""
    import tomllib

    from scoring.policy import PolicyConfig
    text = _text(value).strip()
    if text:
        try:
            PolicyConfig.from_toml(text)
        except OSError as exc:
            raise ValueError(f"cannot be read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"is not a TOML file: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ValueError(f"is not a referral policy: {exc}") from None
    return text


def ports_file(value):
    """Empty, or a port table CSV that reads."""
    from scoring.ports import known_ports
    text = _text(value).strip()
    if text:
        try:
            known_ports(text)
        except OSError as exc:
            raise ValueError(f"cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:   # PortTableError: the file, row and why
            raise ValueError(f"is not a port table: {exc}") from None
    return text


SETTINGS = (
    Setting("DATABASE_URL", "sqlite:///var/southbound.db",
            "SQLAlchemy URL of the store: SQLite file (default) or postgresql+psycopg://…",
            database_url),
    Setting("REGISTRY", "var/registry", "model registry folder; its active version is served",
            path),
    Setting("REPORT_DIR", "var/reports", "cache of built model report pages (GET /reports/...), "
                                         "shared by the workers", path),
    Setting("POLICY_FILE", "", "referral policy TOML (random share, capacity per port, bands); "
                               "empty for the built-in defaults", policy_file),
    Setting("SQLITE_SYNCHRONOUS", "FULL", "SQLite synchronous pragma under WAL: FULL survives "
                                          "power loss, NORMAL only a crash of the process",
            choice("FULL", "NORMAL", "EXTRA", "OFF")),
    Setting("BATCH_LIMIT", "500", "most crossings in one POST /v1/score/batch", integer(1)),
    Setting("MAX_BODY_BYTES", "1048576", "largest request body accepted (413 above)",
            integer(1024)),
    Setting("THRESHOLD_WINDOW", "2000", "recent scores per port that the model threshold "
                                        "follows", integer(1)),
    Setting("MODEL_CHECK_SECONDS", "2", "how often a worker checks the registry for a new "
                                        "active model or shadow", number(0)),
    Setting("THRESHOLD_REFRESH_SECONDS", "2", "how often a worker reads each port's recent "
                                              "scores from the store again, so that every "
                                              "worker and instance refers at one threshold",
            number(0)),
    Setting("PUBLIC_KEY", "var/keys/signing.pub",
            "Ed25519 public key (PEM) that every model's manifest signature is verified with "
            "before its artifact is read; the service never holds the private key. The "
            "commands read the same variable", public_key),
    Setting("INSECURE_UNSIGNED_MODELS", "0",
            "1: insecure development mode, models load without a signature check (any file "
            "in the registry can run code in the service), said at start; never in "
            "production", flag),
    Setting("RECEIVE_SECONDS", "10", "how long a client may take to send a whole request "
                                     "(header and body) from its first bytes; a slower "
                                     "connection is closed, so slow clients cannot hold the "
                                     "worker threads", number(1)),
    Setting("TRUSTED_PROXIES", "0", "how many reverse proxies stand before the service: the "
                                    "client address audited with each read is the one the "
                                    "nearest proxy names in X-Forwarded-For; 0 takes the "
                                    "connection's own peer and ignores the header (any client "
                                    "can write it)", integer(0, 10)),
    Setting("TOKEN_CACHE_SECONDS", "10", "how long a worker trusts a token lookup (revocation "
                                         "delay)", number(0)),
    Setting("RATE_LIMIT_PER_MINUTE", "6000", "requests a token may make per minute (429 "
                                             "above); 0 switches the limit off", integer(0)),
    Setting("AUTH_FAILURES_PER_MINUTE", "20", "failed authentications (a token presented "
                                              "and refused) a client address may make per "
                                              "minute (429 above, with no token lookup); 0 "
                                              "switches the limit off", integer(0)),
    Setting("REDIS_URL", "", "Redis URL (redis://127.0.0.1:6379/0) to share rate-limit counts "
                             "across workers and instances; empty counts per worker", redis_url),
    Setting("PORTS_FILE", "", "a CSV of ports added to the shipped port table (columns "
                              "port_code, port_name, as scoring/data/sw_border_ports.csv); the "
                              "API takes crossings only at the table's ports. The commands "
                              "read it too", ports_file),
    Setting("MAX_CLOCK_SKEW_SECONDS", "900", "how far in the future a crossed_at may be (the "
                                             "booth's clock ahead of the server's) before the "
                                             "API refuses it", number(0)),
    Setting("LOG_LEVEL", "INFO", "log level of the JSON log lines on stderr",
            choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    Setting("RETENTION_DAYS", "", "days a crossing is kept: southbound purge without --before "
                                  "deletes the crossings (with their scores, outcomes and "
                                  "shadow scores) older than today minus this; empty keeps "
                                  "everything", optional_days),
    Setting("AUDIT_RETENTION_DAYS", "", "days an audit row is kept: southbound audit purge "
                                        "without --before deletes the audit rows older than "
                                        "today minus this, leaving an anchor row that keeps "
                                        "the rest verifiable; empty keeps the whole trail",
            optional_days),
    Setting("RANDOM_SEED", "", "seed of the random referrals, for tests and replays only; empty "
                               "draws from the operating system", optional_seed),
)
BY_NAME = {s.name: s for s in SETTINGS}


def parse_setting(name, value, where=PREFIX):
    """``value`` of the setting ``name`` typed and range-checked; SettingError naming
    ``where + name`` and the value (a secret only by its length) otherwise."""
    try:
        return BY_NAME[name].parse(value)
    except ValueError as exc:
        shown = repr(_shown(name, value))
        raise SettingError(f"{where}{name} {shown} {exc}") from None


def _shown(name, value):
    """The value as a message may print it: a database URL without its password."""
    if name == "DATABASE_URL" and isinstance(value, str):
        import sqlalchemy as sa
        try:
            return sa.engine.make_url(value).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return value
    return value if isinstance(value, (str, int, float)) else _text(value)


def from_environment(environ=os.environ):
    """Settings from defaults overridden by ``SOUTHBOUND_*`` variables, typed and checked;
    SettingError names the first bad one. A default under ``var/`` (the store, the
    registry, the reports, the public key) lies under ``$SOUTHBOUND_VAR`` when that is set,
    where the commands look too."""
    var = environ.get(PREFIX + "VAR")
    return {s.name: parse_setting(s.name, environ.get(PREFIX + s.name,
                                                      under_var(s.default, var)))
            for s in SETTINGS}


def under_var(default, var):
    """``default`` with its leading ``var/`` (or ``sqlite:///var/``) moved under the
    folder ``var``; as it is when ``var`` is empty or the default is elsewhere."""
    if not var:
        return default
    for prefix in ("var/", "sqlite:///var/"):
        if default.startswith(prefix):
            head = prefix.removesuffix("var/")
            return head + str(Path(var) / default.removeprefix(prefix))
    return default


def checked(mapping):
    """A configuration mapping (``create_app``'s test mapping) with each setting in it
    typed and checked as the environment's are; other keys (Flask's own) as they are."""
    return {k: parse_setting(k, v, where="") if k in BY_NAME else v for k, v in mapping.items()}


class Site(NamedTuple):
    """The values the scoring core needs, read once rather than on every call."""
    var: Path            # working data of the commands (SOUTHBOUND_VAR)
    registry: Path       # the commands' model registry (SOUTHBOUND_REGISTRY, else var/registry)
    ports_file: str | None       # a site's own port table (SOUTHBOUND_PORTS_FILE)
    dask_scheduler: str | None   # SOUTHBOUND_DASK_SCHEDULER
    private_key: str | None = None   # SOUTHBOUND_PRIVATE_KEY (else $VAR/keys/signing.key)
    public_key: str | None = None    # SOUTHBOUND_PUBLIC_KEY (else $VAR/keys/signing.pub)
    insecure_unsigned_models: bool = False   # SOUTHBOUND_INSECURE_UNSIGNED_MODELS
    legacy_signing_key: str | None = None    # SOUTHBOUND_SIGNING_KEY, the retired HMAC key


def site_from_environment(environ=os.environ):
    """The :class:`Site` that the ``SOUTHBOUND_*`` variables give (defaults otherwise)."""
    var = Path(environ.get(PREFIX + "VAR", "var"))
    return Site(var=var, registry=Path(environ.get(PREFIX + "REGISTRY") or var / "registry"),
                ports_file=environ.get(PREFIX + "PORTS_FILE") or None,
                dask_scheduler=environ.get(PREFIX + "DASK_SCHEDULER") or None,
                private_key=environ.get(PREFIX + "PRIVATE_KEY") or None,
                public_key=environ.get(PREFIX + "PUBLIC_KEY") or None,
                # lenient, as the commands always were: anything but on is off
                insecure_unsigned_models=environ.get(PREFIX + "INSECURE_UNSIGNED_MODELS", "")
                .strip().lower() in ("1", "true", "yes", "on"),
                legacy_signing_key=environ.get(PREFIX + "SIGNING_KEY") or None)


_SITE = None


def site():
    """This process's :class:`Site`: as last set by :func:`use`, else the environment's,
    read at the first call."""
    global _SITE
    if _SITE is None:
        _SITE = site_from_environment()
    return _SITE


def use(site_values=None, **changes):
    """Make ``site_values`` (default: the environment's, read now) with ``changes`` this
    process's :class:`Site`; the command line and ``create_app`` call it once."""
    global _SITE
    _SITE = (site_values or site_from_environment())._replace(**changes)
    return _SITE


def forget():
    """Drop the process's :class:`Site`: the next :func:`site` reads the environment."""
    global _SITE
    _SITE = None
