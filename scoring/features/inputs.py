"""The model's inputs of a log or of one crossing: context, history, then derived features.

:func:`feature_frame` runs in-process (training, batch scoring); :func:`feature_record`
is the service's execution of it, from the crossing and its history values out of the
store; :func:`derive` is the one formula of each derived feature, on columns or floats.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features.catalog import DERIVED, FEATURES, LAST_INBOUND_PORT
from scoring.features.context import context_frame, context_record
from scoring.features.history_numpy import history_frame


def derive(values):
    """Add every :data:`DERIVED` feature to ``values`` (columns or one crossing's floats).

    Parameters
    ----------
    values : dict
        Feature name to a float array (offline) or a float (online); changed in place.

    Returns
    -------
    dict
        ``values``, with a key per derived feature.
    """
    for spec in DERIVED:
        values[spec.name] = spec.formula(*(values[name] for name in spec.inputs))
    return values


def feature_frame(frame, query=None):
    """Model inputs (context + history + derived) of the query rows, default the outbound rows.

    Returns
    -------
    DataFrame, shape (query.sum(), len(FEATURES) + 1)
        Columns ``FEATURES`` in order, then ``plate_last_inbound_port``.
    """
    if query is None:
        query = (frame["direction"] == "outbound").to_numpy()
    query = np.asarray(query, dtype=bool)
    context = context_frame(frame.loc[query])
    history = history_frame(frame, query)
    return with_derived(pd.concat([context, history], axis=1))


def with_derived(both):
    """Context and history columns of the same rows (``both``, changed in place) with
    every derived feature added, as ``FEATURES`` then ``plate_last_inbound_port``."""
    inputs = {name for spec in DERIVED for name in spec.inputs}
    derived = derive({name: both[name].to_numpy(float) for name in inputs})
    for spec in DERIVED:
        both[spec.name] = derived[spec.name]
    return both[list(FEATURES) + [LAST_INBOUND_PORT]]


def feature_record(record, history):
    """Model inputs of one crossing (the service's execution of :func:`feature_frame`).

    Parameters
    ----------
    record : dict
        A canonical record.
    history : dict
        Its history values, from the store (:func:`history_values`).

    Returns
    -------
    dict
        Every key of :func:`feature_frame`'s row, and the history values that are no
        model input.
    """
    return derive(context_record(record) | history)
