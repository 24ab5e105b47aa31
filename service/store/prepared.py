"""Statements compiled once for the engine's dialect, for the scoring hot path."""
from __future__ import annotations

import sqlalchemy as sa


class Prepared:
    """A statement compiled once for the engine's dialect and run on the driver's cursor.

    The hot path (history, inserts) skips building, hashing and executing SQLAlchemy
    expressions per request; it still runs inside the SQLAlchemy connection's
    transaction, and driver errors come back as SQLAlchemy's own (IntegrityError,
    OperationalError), as from any other statement. Values must be the driver's
    own types.
    """

    def __init__(self, engine, statement):
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.defaults = dict(compiled.params)
        self.positional = compiled.positional
        self.names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        self.dbapi = engine.dialect.dbapi
        # every parameter NULL unless given, so that run() can index without .get()
        self.defaults = {**dict.fromkeys(self.names), **self.defaults}

    def run(self, conn, params):
        """Execute with ``params`` (a parameter not given is NULL); return the cursor."""
        values = {**self.defaults, **params}
        args = (tuple(map(values.__getitem__, self.names)) if self.positional
                else {n: values[n] for n in self.names})
        if not conn.in_transaction():
            conn.begin()
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
        except self.dbapi.Error as exc:
            cursor.close()
            raise sa.exc.DBAPIError.instance(self.sql, args, exc, self.dbapi.Error) from exc
        return cursor

    def one(self, conn, params):
        """The single row of a query, as a dict."""
        cursor = self.run(conn, params)
        try:
            names = [d[0] for d in cursor.description]
            return dict(zip(names, cursor.fetchone()))
        finally:
            cursor.close()

    def first(self, conn, params):
        """The first row of a query as a tuple, or None."""
        cursor = self.run(conn, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def execute(self, conn, params):
        self.run(conn, params).close()


def insert_statement(table, skip=("id",)):
    """An INSERT of every column of ``table`` but ``skip``, each a named parameter."""
    return table.insert().values({c.name: sa.bindparam(c.name, type_=c.type)
                                  for c in table.c if c.name not in skip})
