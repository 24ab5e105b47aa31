"""The rules across columns of a canonical row, in the order they are told, for one
row (:func:`row_problem`) and for a whole frame (:func:`frame_problems`) side by side.
"""
from __future__ import annotations

import math

import numpy as np

from scoring.contract.columns import (CERTAIN_REFERRALS, MODEL_YEAR_AHEAD, OUTCOME_REVIEW,
                                      SEIZED_AMOUNTS)
from scoring.contract.columns import show_value

_AHEAD_MESSAGE = "a model year more than one year after the year of the crossing"
_LOOKOUT_MESSAGE = "a lookout referral has selection probability 1"
#: the outcome columns an inbound row leaves empty
_OUTBOUND_ONLY = ("selection_probability", "seizure", "firearms_seized",
                  "rounds_seized", "currency_seized_usd")


def model_year_ahead(model_year, crossed_at):
    """Where a model year is more than :data:`MODEL_YEAR_AHEAD` years after the (UTC)
    year of the crossing: arrays, or one value each (UTC µs); False where unknown."""
    year = (np.asarray(crossed_at, dtype=np.int64).astype("datetime64[us]")
            .astype("datetime64[Y]").astype(np.int64) + 1970)
    return np.asarray(model_year, dtype=float) > year + MODEL_YEAR_AHEAD


def row_problem(row):
    """Cross-column rules of one canonical row: (column, message) or None."""
    if model_year_ahead(row["vehicle_model_year"], row["crossed_at"]):
        return "vehicle_model_year", _AHEAD_MESSAGE
    if row["direction"] == "inbound":
        for name in _OUTBOUND_ONLY:
            if not _missing(row[name]):
                return name, "outcome columns must be empty on inbound rows"
        if row["referral"] not in (None, "none"):
            return "referral", "inbound rows are never referred"
        if row["inspected"] == 1.0:
            return "inspected", "inbound rows are never inspected"
    if row["referral"] in CERTAIN_REFERRALS and not _missing(row["selection_probability"]) \
            and row["selection_probability"] != 1.0:
        return "selection_probability", _LOOKOUT_MESSAGE
    return outcome_problem(row)


def outcome_problem(row):
    """A contradictory outcome in a canonical row: (column, message) or None.

    A seizure needs an inspection; a seized amount above 0 needs both an inspection
    and a seizure (``seizure: false`` with ``firearms_seized: 3`` is refused, not
    learnt from). The service checks recorded outcomes with the same rule.

    >>> outcome_problem({"inspected": 1.0, "seizure": 0.0, "firearms_seized": 3.0,
    ...                  "rounds_seized": 0.0, "currency_seized_usd": math.nan})
    ('firearms_seized', 'is more than 0 but seizure is false')
    """
    if not _missing(row["seizure"]) and row["inspected"] != 1.0:
        return "seizure", "seizure is given but inspected is not true"
    for name in SEIZED_AMOUNTS:
        x = row[name]
        if _missing(x) or not x > 0:
            continue
        if row["inspected"] != 1.0:
            return name, "is more than 0 but inspected is not true"
        if row["seizure"] == 0.0:
            return name, "is more than 0 but seizure is false"
    return None


def outcome_review(row):
    """The seized amounts of a canonical row at or above their review threshold
    (:data:`~scoring.contract.columns.OUTCOME_REVIEW`), in column order: a recorded
    outcome with any is taken but flagged for an analyst's review. (Above the hard cap,
    the column's bound, a value is refused before this is asked.)

    >>> outcome_review({"firearms_seized": 60.0, "rounds_seized": 0.0,
    ...                 "currency_seized_usd": math.nan})
    ['firearms_seized']
    """
    return [name for name in SEIZED_AMOUNTS
            if not _missing(row.get(name)) and row[name] >= OUTCOME_REVIEW[name]]


def _missing(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def frame_problems(frame, reject):
    """Vectorised twin of :func:`row_problem`: calls ``reject(mask, column,
    message_for)`` for each rule, in the same order (a row keeps its first reason)."""
    reject(model_year_ahead(frame["vehicle_model_year"], frame["crossed_at"]),
           "vehicle_model_year", lambda v: f"value {show_value(v)}: {_AHEAD_MESSAGE}")
    inbound = (frame["direction"] == "inbound").to_numpy()
    for name in _OUTBOUND_ONLY:
        reject(inbound & frame[name].notna().to_numpy(), name,
               lambda v: f"value {show_value(v)}: outcome columns must be empty on inbound rows")
    referred = (frame["referral"].notna() & (frame["referral"] != "none")).to_numpy()
    reject(inbound & referred, "referral",
           lambda v: f"value {show_value(v)}: inbound rows are never referred")
    reject(inbound & (frame["inspected"] == 1.0).to_numpy(), "inspected",
           lambda v: f"value {show_value(v)}: inbound rows are never inspected")
    certain = frame["referral"].isin(CERTAIN_REFERRALS).to_numpy()
    probability = frame["selection_probability"].to_numpy(float)
    reject(certain & ~np.isnan(probability) & (probability != 1.0), "selection_probability",
           lambda v: f"value {show_value(v)}: {_LOOKOUT_MESSAGE}")
    not_inspected = (frame["inspected"] != 1.0).to_numpy()
    reject(frame["seizure"].notna().to_numpy() & not_inspected,
           "seizure", lambda v: f"value {show_value(v)}: seizure is given but inspected is not true")
    no_seizure = (frame["seizure"] == 0.0).to_numpy()
    for name in SEIZED_AMOUNTS:
        some = (frame[name] > 0).to_numpy()
        reject(some & not_inspected, name,
               lambda v: f"value {show_value(v)}: is more than 0 but inspected is not true")
        reject(some & no_seizure, name,
               lambda v: f"value {show_value(v)}: is more than 0 but seizure is false")
