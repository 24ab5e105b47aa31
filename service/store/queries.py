"""The queries the API needs: history features, a crossing and its score, outcomes,
lookouts and audit rows; the writes run in the caller's transaction."""
from __future__ import annotations

import json

import sqlalchemy as sa

from scoring.features import history_select, history_values, unseen_history
from scoring.features.catalog import HISTORY_BY_NAME
from scoring.features.history_sql import (base_columns, base_select, base_update, keeps_base,
                                          stored_octave)
from scoring.features.spec import ENTITY_COLUMN
from scoring.features.stats import value_band
from service.store import chain
from service.store.database import Database
from service.store.prepared import Prepared, insert_statement
from service.store.tables import (BASE_COLUMNS, BASE_LOCK, aside_key, audit, crossings,
                                  lookouts, now_us, outcomes, scores, shadow_scores,
                                  sql_value)


class Store(Database):
    """Connections (:class:`~service.store.database.Database`) and the queries the API needs.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///var/southbound.db`` or
        ``postgresql+psycopg://user@host/db``.
    sqlite_synchronous : str
        SQLite's ``synchronous`` pragma under WAL: FULL survives power loss,
        NORMAL survives a crash of the process.
    """

    def __init__(self, url, sqlite_synchronous="FULL"):
        super().__init__(url, sqlite_synchronous)
        lock = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger)))
        self.sql = {
            "plate": Prepared(self.engine, history_select(crossings, "plate")),
            "carrier": Prepared(self.engine, history_select(crossings, "carrier")),
            "port": Prepared(self.engine, history_select(crossings, "port")),
            "insert_crossing": Prepared(self.engine, insert_statement(crossings)),
            "insert_score": Prepared(self.engine, insert_statement(scores)),
            "insert_shadow": Prepared(self.engine, insert_statement(shadow_scores)),
            "insert_audit": Prepared(self.engine, insert_statement(audit)),
            # the chain's last link: the newest row by primary key, one index probe
            "audit_head": Prepared(self.engine, sa.select(audit.c.row_hash)
                                   .order_by(audit.c.id.desc()).limit(1)),
            "audit_lock": Prepared(self.engine, lock),
            "base_lock": Prepared(self.engine, lock),
            "lookout": Prepared(self.engine, sa.select(lookouts.c.id).where(
                lookouts.c.plate_id == sa.bindparam("plate_id", type_=sa.String),
                lookouts.c.deleted_at.is_(None),
                lookouts.c.expires_at > sa.bindparam("at", type_=sa.BigInteger)).limit(1)),
        }
        for name in base_columns():   # each row's own aggregates of a below spec's base
            self.sql[f"base {name}"] = Prepared(self.engine, base_select(crossings, name))
            self.sql[f"late {name}"] = Prepared(self.engine, base_update(crossings, name))

    # -- reads -----------------------------------------------------------------

    def history(self, conn, record):
        """Point-in-time history features of one crossing, from earlier stored rows
        (the plate's, the carrier's and the port's)."""
        t, port = record["crossed_at"], record["port_code"]
        # every entity's query gets the crossing's value band (a value_share spec of the
        # plate, the carrier or the port reads it; a query without one ignores it)
        low, high = value_band(record.get("manifest_value_usd"))
        at = {"port": port, "t": t, "value_low": low, "value_high": high}
        row = self.sql["plate"].one(conn, {"key": record["plate_id"], **at})
        out = history_values("plate", row, t, port)
        if record.get("carrier_id"):
            row = self.sql["carrier"].one(conn, {"key": record["carrier_id"], **at})
            out.update(history_values("carrier", row, t, port))
        else:
            out.update(unseen_history("carrier"))
        row = self.sql["port"].one(conn, {"key": port, **at})
        out.update(history_values("port", row, t, port))
        return out

    def crossing(self, conn, crossing_id):
        """The stored crossing, its score and its outcome records, or None."""
        row = conn.execute(sa.select(*(c for c in crossings.c if c.name not in BASE_COLUMNS))
                           .where(crossings.c.crossing_id == crossing_id)).mappings().first()
        if row is None:   # (the base columns are the store's, not the crossing's)
            return None
        score = conn.execute(sa.select(scores).where(scores.c.crossing_id == crossing_id)
                             ).mappings().first()
        records = conn.execute(sa.select(outcomes).where(outcomes.c.crossing_id == crossing_id)
                               .order_by(outcomes.c.id)).mappings().all()
        return dict(row), (dict(score) if score else None), [dict(r) for r in records]

    @staticmethod
    def inbound(conn, crossing_id):
        """The stored inbound crossing of this id, under the id or set aside, or None."""
        row = conn.execute(sa.select(crossings).where(
            crossings.c.crossing_id.in_([crossing_id, aside_key(crossing_id)]),
            crossings.c.direction == "inbound")).mappings().first()
        return None if row is None else dict(row)

    @staticmethod
    def shadow_score(conn, crossing_id):
        """The challenger's stored score of a crossing, or None."""
        row = conn.execute(sa.select(shadow_scores).where(
            shadow_scores.c.crossing_id == crossing_id)).mappings().first()
        return dict(row) if row else None

    def shadow_history(self, champion, challenger, since=None):
        """Every crossing scored by ``champion`` with ``challenger`` in shadow (crossed at
        or after ``since``, UTC µs), as :data:`training.compare.COLUMNS` plus
        ``referred``: a DataFrame for :func:`training.compare.compare`."""
        import pandas as pd
        c, s, h = crossings.c, scores.c, shadow_scores.c
        query = (sa.select(s.crossing_id, s.port_code, s.risk_score.label("champion"),
                           h.risk_score.label("challenger"), s.risk_score.label("mu"),
                           s.selection_probability, s.refer.label("referred"), c.inspected,
                           c.seizure, c.firearms_seized, c.rounds_seized,
                           c.currency_seized_usd)
                 .join(shadow_scores, h.crossing_id == s.crossing_id)
                 .join(crossings, c.crossing_id == s.crossing_id)
                 .where(s.model_version == champion, h.model_version == challenger)
                 .order_by(c.crossed_at, s.crossing_id))
        if since is not None:
            query = query.where(c.crossed_at >= since)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=[col.name for col in query.selected_columns])
        frame["referred"] = frame["referred"].astype(bool)
        inspected = pd.to_numeric(frame.pop("inspected"), errors="coerce")
        # a label of the logged design: the service referred it and secondary looked
        frame["labelled"] = frame["referred"] & (inspected == 1)
        for name in ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        return frame

    @staticmethod
    def audit_trail(conn, since=None, actor=None, action=None):
        """Audit rows, oldest first, written at or after ``since`` (UTC µs), by ``actor``,
        of ``action`` (each filter when given)."""
        query = sa.select(audit).order_by(audit.c.id)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if actor is not None:
            query = query.where(audit.c.actor == actor)
        if action is not None:
            query = query.where(audit.c.action == action)
        return [dict(r) for r in conn.execute(query).mappings()]

    def recent_scores(self, conn, port, limit):
        """The port's latest risk scores, newest first."""
        rows = conn.execute(sa.select(scores.c.risk_score).where(scores.c.port_code == port)
                            .order_by(scores.c.scored_at.desc()).limit(limit))
        return [r[0] for r in rows]

    def has_lookout(self, conn, plate_id, at):
        """Whether the plate is on a lookout that has not expired or been removed."""
        return self.sql["lookout"].first(conn, {"plate_id": plate_id, "at": at}) is not None

    # -- writes (the caller owns the transaction) ------------------------------

    def insert_crossing(self, conn, record, key=None):
        """Store a crossing under its id, or under ``key`` (an inbound one set aside).

        The row keeps its value octave and its own aggregates of each ``below`` spec's
        base, from the rows stored before its time; one that declares a value is counted
        into the aggregates of the rows of its entity already stored after it (it came
        late), so that they are exact in any order of arrival.
        """
        values = {k: sql_value(k, v) for k, v in record.items() if k in crossings.c}
        values["received_at"] = now_us()
        if key is not None:
            values["crossing_id"] = key
        late = self._bases(conn, record, values)
        self.sql["insert_crossing"].execute(conn, values)   # a repeated id fails before
        for name, params in late:                           # any row changes
            self.sql[f"late {name}"].execute(conn, params)

    def _bases(self, conn, record, values):
        """Add to ``values`` the row's ``value_octave`` and its own aggregates of each base;
        return the late-arrival updates (base name, parameters) to run once it is stored."""
        value = values.get("manifest_value_usd")
        octave = values["value_octave"] = stored_octave(value)
        bases = [name for name in base_columns() if keeps_base(HISTORY_BY_NAME[name], record)]
        if bases and self.dialect == "postgresql":   # on SQLite the write lock does
            self.sql["base_lock"].run(conn, {"key": BASE_LOCK}).close()
        low, high = value_band(value)
        late = []
        for name in bases:
            at = {"key": record[ENTITY_COLUMN[HISTORY_BY_NAME[name].entity]],
                  "t": record["crossed_at"]}
            row = self.sql[f"base {name}"].one(conn, dict(at, value_low=low, value_high=high))
            values.update({column: None if row[aggregate] is None else int(row[aggregate])
                           for aggregate, column in base_columns()[name].items()})
            if octave is not None:
                late.append((name, dict(at, octave=octave)))
        return late

    @staticmethod
    def set_inbound_aside(conn, crossing_id):
        """Move the inbound crossing stored under ``crossing_id`` to its
        :func:`~service.store.tables.aside_key`, so that the outbound crossing of that id
        can be stored; return whether one was there (an inbound row has no score,
        outcome or shadow score that would follow it)."""
        moved = conn.execute(crossings.update().where(
            crossings.c.crossing_id == crossing_id, crossings.c.direction == "inbound")
            .values(crossing_id=aside_key(crossing_id)))
        return moved.rowcount > 0

    def insert_score(self, conn, values):
        self.sql["insert_score"].execute(conn, values)

    def insert_shadow(self, conn, values):
        self.sql["insert_shadow"].execute(conn, values)

    @staticmethod
    def record_outcome(conn, crossing_id, outcome, actor):
        outcome = {k: sql_value(k, v) for k, v in outcome.items()}
        conn.execute(outcomes.insert().values(crossing_id=crossing_id, recorded_at=now_us(),
                                              actor=actor, **{k: v for k, v in outcome.items()
                                                              if k in outcomes.c}))
        conn.execute(crossings.update().where(crossings.c.crossing_id == crossing_id)
                     .values(**outcome))

    def lock_audit(self, conn):
        """Hold the audit trail's append lock to the end of the caller's transaction: on
        PostgreSQL the audit advisory lock, on SQLite the database's write lock."""
        if self.dialect == "postgresql":
            self.sql["audit_lock"].run(conn, {"key": chain.AUDIT_LOCK}).close()
            return
        if not conn.in_transaction():
            conn.begin()
        raw = conn.connection.dbapi_connection
        if not raw.in_transaction:  # the driver begins only at a write: take the write
            raw.execute("BEGIN IMMEDIATE")  # lock before reading the head, not after

    def audit(self, conn, actor, action, target=None, model_version=None, policy_version=None,
              **detail):
        """Append an audit row, chained to the last one (:mod:`service.store.chain`).

        The append holds a lock to the end of the caller's transaction before it reads the
        last hash, so that concurrent writers chain one after another: on PostgreSQL the
        audit advisory lock, on SQLite the database's write lock (the caller's file lock
        already serialises writers; this holds without it too).
        """
        row = dict(at=now_us(), actor=chain.text(actor), action=chain.text(action),
                   target=chain.text(target), model_version=chain.text(model_version),
                   policy_version=chain.text(policy_version),
                   detail=json.dumps(detail, sort_keys=True, default=str))
        self.lock_audit(conn)
        head = self.sql["audit_head"].first(conn, {})
        row["prev_hash"] = head[0] if head else chain.GENESIS
        row["row_hash"] = chain.row_hash(row["prev_hash"], row)
        self.sql["insert_audit"].execute(conn, row)
