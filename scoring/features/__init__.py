"""Feature definitions: each defined once, with its executions beside it.

Three families, declared in :mod:`~scoring.features.catalog`:

- **Context** features depend on the crossing alone (:mod:`~scoring.features.context`:
  :func:`context_frame` for a log, :func:`context_record` for one crossing, through the
  same small functions).
- **History** features depend on the plate's, the carrier's or the port's earlier
  rows. Each is a :class:`HistoryFeature` (:mod:`~scoring.features.spec`): entity,
  statistic, direction, window, outcome. Its statistic is written once, in
  :mod:`~scoring.features.stats`, and executed where it runs: over a whole log
  in-process (:mod:`~scoring.features.history_numpy`, with
  :mod:`~scoring.features.convoy_numpy`), in the service's store
  (:mod:`~scoring.features.history_sql`), on Dask
  (:mod:`~scoring.features.history_dask`, imported only with ``--engine dask``).
- **Derived** features are arithmetic of other features' values
  (:class:`DerivedFeature`); the same formula runs on columns offline
  (:func:`feature_frame`) and on one crossing's floats online (:func:`feature_record`),
  in :mod:`~scoring.features.inputs`.

Point in time: a row sees only rows that crossed *strictly before* it, and an
outcome only once resolved, ``OUTCOME_LAG_US`` after the inspected crossing.
"""
from scoring.features.catalog import (CATEGORICAL, CONTEXT, DERIVED, FEATURE_GROUPS, FEATURES,
                                      HELP, HISTORY, LAST_INBOUND_PORT, resolve_exclusions)
from scoring.features.context import context_frame, context_record
from scoring.features.history_numpy import history_frame
from scoring.features.history_sql import history_select, history_values, unseen_history
from scoring.features.inputs import derive, feature_frame, feature_record, with_derived
from scoring.features.spec import (ENTITY_COLUMN, OUTCOME_LAG_US, OUTCOMES, DerivedFeature,
                                   HistoryFeature)
from scoring.features.stats import DAY_US, HOUR_US, STATS

__all__ = [
    "CATEGORICAL", "CONTEXT", "DAY_US", "DERIVED", "ENTITY_COLUMN", "FEATURES",
    "FEATURE_GROUPS", "HELP", "HISTORY", "HOUR_US", "LAST_INBOUND_PORT", "OUTCOMES",
    "OUTCOME_LAG_US", "STATS", "DerivedFeature", "HistoryFeature", "context_frame",
    "context_record", "derive", "feature_frame", "feature_record", "history_frame",
    "history_select", "history_values", "resolve_exclusions", "unseen_history",
    "with_derived",
]
