"""The store's tables: the contract's columns for crossings, and the service's own.

Times are integers, µs since the epoch in UTC (:func:`now_us`); the contract's integer
kinds are integer columns, its booleans 1/0 (:func:`sql_value`).
"""
from __future__ import annotations

import math
import time

import sqlalchemy as sa

from scoring.contract import COLUMNS, TEXT_KINDS
from scoring.features.history_sql import base_columns

metadata = sa.MetaData()
#: the contract's integer kinds: stored in integer columns (migration 2)
INTEGER_KINDS = ("int", "count", "positive")
#: the largest magnitude an integer column holds (the API refuses more)
INT_MAX = 2**31 - 1


#: the suffix of the key an inbound crossing is stored under when an outbound crossing
#: holds its id (:func:`aside_key`): U+001F is a control character no id the API takes
#: holds, so no crossing of either direction can be sent under such a key
ASIDE = "\x1finbound"
#: the longest key of ``crossings`` (an id the API takes, set aside; migration 6)
KEY_MAX = 160


def aside_key(crossing_id):
    """The key of an inbound crossing whose id an outbound crossing holds: the outbound
    crossing owns the id (its score, outcomes and look-ups address it), the inbound one
    stays history under this key."""
    return crossing_id + ASIDE


def stored_id(key):
    """The crossing_id of a ``crossings`` key (an inbound crossing set aside loses its
    :data:`ASIDE` suffix)."""
    return key[:-len(ASIDE)] if key.endswith(ASIDE) else key


def _contract_columns():
    cols = []
    for column in COLUMNS:
        if column.name == "crossing_id":
            cols.append(sa.Column("crossing_id", sa.String(KEY_MAX), primary_key=True))
        elif column.name == "crossed_at":
            cols.append(sa.Column("crossed_at", sa.BigInteger, nullable=False))
            cols.append(sa.Column("utc_offset_min", sa.Integer, nullable=False))
        elif column.kind in TEXT_KINDS:
            cols.append(sa.Column(column.name, sa.String(128), nullable=not column.required))
        elif column.kind == "bool":
            cols.append(sa.Column(column.name, sa.SmallInteger))
        elif column.kind in INTEGER_KINDS:
            cols.append(sa.Column(column.name, sa.Integer))
        else:
            cols.append(sa.Column(column.name, sa.Float))
    return cols


INTEGER_COLUMNS = tuple(c.name for c in COLUMNS if c.kind in INTEGER_KINDS)
#: the columns a crossing keeps for a count of earlier rows by their own value of a
#: feature (migration 9): the octave of its declared value, and its raw aggregates of each
#: ``below`` spec's base (:func:`~scoring.features.history_sql.base_columns`), NULL where
#: there are none
BASE_COLUMNS = ("value_octave",) + tuple(
    name for columns in base_columns().values() for name in columns.values())
#: the PostgreSQL advisory lock key that writers of the base aggregates (a crossing
#: stored, a purge) take turns on, so that each sees the others' rows
BASE_LOCK = 0x50B0_0003

crossings = sa.Table(
    "crossings", metadata, *_contract_columns(),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    *(sa.Column(name, sa.Integer) for name in BASE_COLUMNS),
    sa.Index("ix_crossings_plate_time", "plate_id", "crossed_at"),
    sa.Index("ix_crossings_carrier_time", "carrier_id", "crossed_at"),
    sa.Index("ix_crossings_time", "crossed_at"),
)
scores = sa.Table(
    "scores", metadata,
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              primary_key=True),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
    sa.Column("port_code", sa.String(8), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("risk_band", sa.String(32), nullable=False),
    sa.Column("refer", sa.Boolean, nullable=False),
    sa.Column("referral_source", sa.String(16), nullable=False),
    sa.Column("selection_probability", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Index("ix_scores_port_time", "port_code", "scored_at"),
)
outcomes = sa.Table(
    "outcomes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              nullable=False, index=True),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("inspected", sa.SmallInteger, nullable=False),
    sa.Column("seizure", sa.SmallInteger),
    sa.Column("firearms_seized", sa.Integer),
    sa.Column("rounds_seized", sa.Integer),
    sa.Column("currency_seized_usd", sa.Float),
)
tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger),
    sa.Column("expires_at", sa.BigInteger),  # migration 6; NULL: never
)
lookouts = sa.Table(
    "lookouts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plate_id", sa.String(128), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.BigInteger),
)
audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(128)),
    sa.Column("model_version", sa.String(64)),
    sa.Column("policy_version", sa.String(64)),
    sa.Column("detail", sa.Text, nullable=False),
    # the hash chain (migration 5, :mod:`service.store.chain`): the row before's row_hash,
    # and SHA-256 over it and this row's fields
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("row_hash", sa.String(64)),
    sa.Index("ix_audit_target", "target"),
)
shadow_scores = sa.Table(
    "shadow_scores", metadata,
    sa.Column("crossing_id", sa.String(128), sa.ForeignKey("crossings.crossing_id"),
              primary_key=True),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
    sa.Column("port_code", sa.String(8), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("risk_score", sa.Float, nullable=False),
    sa.Column("raw_score", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("would_refer", sa.Boolean, nullable=False),
    sa.Index("ix_shadow_scores_model_time", "model_version", "scored_at"),
)
schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)


def now_us():
    """Now, in µs since the epoch (UTC): how the store keeps every time."""
    return time.time_ns() // 1000


_BOOLS = frozenset(c.name for c in COLUMNS if c.kind == "bool")


def sql_value(name, value):
    """A canonical value as the column stores it: NULL for NaN, 1/0 for booleans, ints
    for the contract's integers."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if (name in _BOOLS or name in INTEGER_COLUMNS) and value is not None:
        return int(value)
    return value
