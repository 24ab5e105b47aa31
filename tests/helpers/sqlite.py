"""SQLite for tests: a store copied whole."""
from __future__ import annotations

import sqlite3
from contextlib import closing


def copy_store(source, dest):
    """Copy the SQLite database at ``source`` to ``dest`` with SQLite's online backup:
    whole, whatever its WAL still holds, and consistent even while another connection
    writes to it."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)
