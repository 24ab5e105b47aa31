"""Replaying a crossing log through the API, as the port's systems would send it."""
from __future__ import annotations

from scoring.contract import OUTCOME_COLUMNS


def crossing_body(row):
    """The API body of a log row: its non-empty contract cells, outcomes left out."""
    return {k: v for k, v in row.items() if v != "" and k not in OUTCOME_COLUMNS}


def replay(client, headers, log, outcome=None):
    """Send every row in time order: inbound to /v1/crossings, outbound to /v1/score.

    ``outcome(row, answer)`` returns the outcome body to record right after a score
    (or None for no report). Returns {crossing_id: score answer}.
    """
    answers = {}
    for row in log.to_dict("records"):
        if row["direction"] == "inbound":
            response = client.post("/v1/crossings", json=crossing_body(row), headers=headers)
            assert response.status_code == 201, response.json
            continue
        response = client.post("/v1/score", json=crossing_body(row), headers=headers)
        assert response.status_code == 201, response.json
        answers[row["crossing_id"]] = response.json
        body = outcome(row, response.json) if outcome else None
        if body is not None:
            done = client.post(f"/v1/crossings/{row['crossing_id']}/outcome", json=body,
                               headers=headers)
            assert done.status_code == 201, done.json
    return answers


def logged_outcome(row, answer):
    """The outcome the log itself records (for the parity replay)."""
    if row["inspected"] != "true":
        return None
    return {"inspected": True, "seizure": row["seizure"] == "true",
            "firearms_seized": int(float(row["firearms_seized"] or 0)),
            "rounds_seized": int(float(row["rounds_seized"] or 0)),
            "currency_seized_usd": float(row["currency_seized_usd"] or 0)}
