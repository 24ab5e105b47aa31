"""The store opened for a command: its SQLite folder made and its schema migrated at once
(the service migrates at its first request instead, see ``create_app``)."""
from __future__ import annotations

from pathlib import Path


def open_store(url, sqlite_synchronous="FULL"):
    """The :class:`~service.store.Store` at ``url``, migrated; SQLAlchemy's
    OperationalError when the database cannot be reached."""
    from service.store import Store
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url, sqlite_synchronous)
    store.migrate()
    return store
