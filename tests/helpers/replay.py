"""Replay helpers for tests: the service's own replay, plus the log's recorded outcomes."""
from __future__ import annotations

import math

from scoring.features import FEATURES, LAST_INBOUND_PORT
from service.replay import crossing_body, replay  # noqa: F401  (re-exported for tests)


def assert_features_equal(online, offline):
    """Every stored feature vector (``online``: crossing_id to the stored JSON, parsed)
    equals the offline pass's (``offline``: indexed by crossing_id), exactly: a missing
    value is None online, NaN offline. Returns how many values were compared."""
    compared = 0
    for crossing_id, expected in offline.iterrows():
        got = online[crossing_id]
        for name in list(FEATURES) + [LAST_INBOUND_PORT]:
            want = expected[name]
            if want is None or (isinstance(want, float) and math.isnan(want)):
                assert got[name] is None, (crossing_id, name, got[name])
            else:
                assert got[name] == want, (crossing_id, name, got[name], want)
            compared += 1
    return compared


def logged_outcome(row, answer):
    """The outcome the log itself records (for the parity replay)."""
    if row["inspected"] != "true":
        return None
    return {"inspected": True, "seizure": row["seizure"] == "true",
            "firearms_seized": int(float(row["firearms_seized"] or 0)),
            "rounds_seized": int(float(row["rounds_seized"] or 0)),
            "currency_seized_usd": float(row["currency_seized_usd"] or 0)}
