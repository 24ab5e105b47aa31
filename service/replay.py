"""Replaying a crossing log through the API, as a port's systems would send it.

Used by ``southbound replay`` (demo traffic) and by the tests; every row goes
through the same views, validation and store as live traffic.
"""
from __future__ import annotations

import numpy as np

from scoring.contract import (BY_NAME, OUTCOME_COLUMNS, ContractError, format_timestamp,
                              parse_value, show_value)

_JSON_OF = {"int": int, "count": int, "positive": int, "amount": float, "bool": bool}


def crossing_body(row):
    """The API body of a log row: its non-empty contract cells, outcomes left out, each as
    the JSON value the API takes (``"12"`` as 12, ``"true"`` as true: the API takes no
    text for a number or a boolean). A cell the contract refuses stays text, for the
    API to refuse."""
    return {k: _json_value(k, v) for k, v in row.items()
            if v != "" and k not in OUTCOME_COLUMNS}


def _json_value(name, cell):
    column = BY_NAME.get(name)
    if column is None or column.kind not in _JSON_OF or not isinstance(cell, str):
        return cell
    try:
        value = parse_value(name, cell)
    except ContractError:
        return cell
    return _JSON_OF[column.kind](value) if value == value else cell


def check(app, log, source, lines=None):
    """Check every row as the API would, before a single one is sent (all or nothing).

    Runs each row's body through the same schema and contract checks as the views
    (nothing is stored), then looks up the store for the file's crossing_ids: a row
    whose id is stored with other values would be a 409. Raises ContractError naming
    ``source``, the row (its file line from ``lines``, else its position with the
    header as row 1), the field and its value.

    Returns
    -------
    array of bool, shape (len(log),)
        The rows already stored as they are (the API would answer them with the
        stored crossing): there is nothing to send for them.
    """
    from service.api.inputs import checked_crossing
    from service.errors import ApiError
    from service.scorer import repeat_conflict

    def line(i):
        return int(lines[i]) if lines is not None else i + 2

    records = []
    with app.app_context():
        for i, row in enumerate(log.to_dict("records")):
            body = crossing_body(row)
            try:
                records.append(checked_crossing(
                    body, "inbound" if row["direction"] == "inbound" else "outbound"))
            except ApiError as exc:
                column = (exc.field or "").split(".")[-1] or None
                value = f"value {show_value(body.get(column, ''))}: " if column else ""
                raise ContractError(f"{value}{exc.message} (the API would refuse this row; "
                                    "nothing was sent)", source=source, row=line(i),
                                    column=column) from None
    stored = _stored(app.extensions["southbound.store"], [r["crossing_id"] for r in records])
    already = np.zeros(len(records), dtype=bool)
    for i, record in enumerate(records):
        found = stored.get(record["crossing_id"])
        if found is None:
            continue
        conflict = repeat_conflict(record, *found)
        if conflict:
            raise ContractError(
                f"value {show_value(record['crossing_id'])}: {conflict}"
                f"{_differences(record, found[0])} (the API would refuse this row; nothing "
                "was sent)", source=source, row=line(i), column="crossing_id")
        already[i] = True
    return already


def _stored(store, ids, chunk=500):
    """``{crossing_id: (crossings row, its score's request_sha256 or None)}`` of the
    ``ids`` the store holds."""
    import sqlalchemy as sa

    from service.store import crossings, scores
    out = {}
    with store.engine.connect() as conn:
        for start in range(0, len(ids), chunk):
            query = (sa.select(crossings, scores.c.request_sha256)
                     .outerjoin(scores, scores.c.crossing_id == crossings.c.crossing_id)
                     .where(crossings.c.crossing_id.in_(ids[start:start + chunk])))
            for row in conn.execute(query).mappings():
                row = dict(row)
                out[row["crossing_id"]] = (row, row.pop("request_sha256"))
    return out


def _differences(record, stored, most=3):
    """`` (stored: crossed_at ...; here: ...)`` for the first columns in which a row
    differs from the stored crossing of its id, or "" when none of them does."""
    def same(a, b):
        missing = [v is None or (isinstance(v, float) and v != v) for v in (a, b)]
        if any(missing):
            return all(missing)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return float(a) == float(b)
        return a == b

    def shown(name, value):
        if name == "crossed_at":
            return format_timestamp(int(value))
        if value is None or (isinstance(value, float) and value != value):
            return "empty"
        return show_value(value)

    names = [k for k in record if k in stored and k not in OUTCOME_COLUMNS
             and k not in ("crossing_id", "utc_offset_min") and not same(record[k], stored[k])]
    if not names:
        return ""
    names = names[:most]
    return (" (stored: " + ", ".join(f"{k} {shown(k, stored[k])}" for k in names)
            + "; here: " + ", ".join(f"{k} {shown(k, record[k])}" for k in names) + ")")


def replay(client, headers, log, outcome=None, progress=None, every=5000):
    """Send every row in time order: inbound to /v1/crossings, outbound to /v1/score.

    Parameters
    ----------
    client : flask.testing.FlaskClient or similar
    headers : dict
        With the bearer token.
    log : DataFrame
        Contract rows as text cells, in time order.
    outcome : callable, optional
        ``outcome(row, answer)`` returns the outcome body to record right after a
        score, or None for no report.
    progress : callable, optional
        Called with (rows sent, rows in all) every ``every`` rows and at the end.

    Returns
    -------
    dict
        crossing_id to the score answer.
    """
    answers = {}
    total = len(log)
    for sent, row in enumerate(log.to_dict("records"), 1):
        if progress is not None and (sent % every == 0 or sent == total):
            progress(sent, total)
        if row["direction"] == "inbound":
            response = client.post("/v1/crossings", json=crossing_body(row), headers=headers)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{row['crossing_id']}: {response.json}")
            continue
        response = client.post("/v1/score", json=crossing_body(row), headers=headers)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{row['crossing_id']}: {response.json}")
        answers[row["crossing_id"]] = response.json
        body = outcome(row, response.json) if outcome else None
        if body is not None:
            done = client.post(f"/v1/crossings/{row['crossing_id']}/outcome", json=body,
                               headers=headers)
            if done.status_code != 201:
                raise RuntimeError(f"{row['crossing_id']} outcome: {done.json}")
    return answers


def truth_outcome(carriers):
    """Outcomes as secondary would find them: referred crossings inspected, carriers seized.

    ``carriers`` maps crossing_id to (carried, firearms, rounds, currency).
    """
    def outcome(row, answer):
        if not answer["refer"]:
            return None
        carried, firearms, rounds, currency = carriers.get(row["crossing_id"], (False, 0, 0, 0))
        return {"inspected": True, "seizure": bool(carried),
                "firearms_seized": int(firearms) if carried else 0,
                "rounds_seized": int(rounds) if carried else 0,
                "currency_seized_usd": float(currency) if carried else 0.0}
    return outcome
