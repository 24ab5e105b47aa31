"""The service's store: SQLAlchemy Core on SQLite (WAL) by default, PostgreSQL by URL.

Tables: crossings (both directions, the contract's columns, outcomes as they are
recorded; an outbound crossing owns its id, and an inbound one sent under the same id
is kept under :func:`~service.store.tables.aside_key`), scores (one per scored crossing: score, decision, reasons, the
feature vector, the model and policy in force), shadow_scores (the challenger's
score of a crossing scored while one was in shadow), outcomes (every outcome record),
tokens (hashes only), lookouts, and audit (append-only, hash-chained:
:mod:`~service.store.chain`; its oldest rows removed only under an anchor:
:mod:`~service.store.audit_retention`). ``schema_version``
records which migrations ran; :data:`MIGRATIONS` is the ordered list.

Every write that the API acknowledges is committed in one transaction before the
reply.

:mod:`~service.store.tables` declares the tables, :mod:`~service.store.migrations`
the steps that build them, :mod:`~service.store.database` the engine, the write lock
and migrating, :mod:`~service.store.prepared` the hot path's compiled statements, and
:mod:`~service.store.queries` the :class:`Store` the API calls.
"""
from service.store.database import PG_CONNECT_TIMEOUT, StoreUnavailable
from service.store.migrations import MIGRATION_LOCK, MIGRATIONS
from service.store.prepared import Prepared
from service.store.queries import Store
from service.store.tables import (INT_MAX, INTEGER_COLUMNS, INTEGER_KINDS, aside_key, audit,
                                  crossings, lookouts, metadata, now_us, outcomes,
                                  schema_version, scores, shadow_scores, stored_id, tokens)

__all__ = ["INTEGER_COLUMNS", "INTEGER_KINDS", "INT_MAX", "MIGRATIONS", "MIGRATION_LOCK",
           "PG_CONNECT_TIMEOUT", "Prepared", "Store", "StoreUnavailable", "aside_key", "audit",
           "crossings", "lookouts", "metadata", "now_us", "outcomes", "schema_version",
           "scores", "shadow_scores", "stored_id", "tokens"]
