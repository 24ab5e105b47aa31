"""Replay helpers for tests: the service's own replay, plus the log's recorded outcomes."""
from __future__ import annotations

from service.replay import crossing_body, replay  # noqa: F401  (re-exported for tests)


def logged_outcome(row, answer):
    """The outcome the log itself records (for the parity replay)."""
    if row["inspected"] != "true":
        return None
    return {"inspected": True, "seizure": row["seizure"] == "true",
            "firearms_seized": int(float(row["firearms_seized"] or 0)),
            "rounds_seized": int(float(row["rounds_seized"] or 0)),
            "currency_seized_usd": float(row["currency_seized_usd"] or 0)}
