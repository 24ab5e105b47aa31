"""Export the store as a crossing log, so the next model learns from what the service saw.

Outbound rows carry the referral source and selection probability in force when
they were scored. A crossing the service did not refer and nobody reported on was
not inspected (inspected = false); a referred one without an outcome yet is
unresolved (empty). One an officer inspected on their own call has referral
"officer" and no selection probability (training then estimates it); a lookout's pick
has referral "lookout" (selection probability 1), also where a store from before the
contract had that value holds it as "officer" (its score's referral source says lookout).

An inbound crossing stored aside (sent under the id of an outbound crossing,
:func:`service.store.tables.aside_key`) is left out: a log holds each id once, and the
id is the outbound crossing's. The frame's ``attrs["left_out"]`` counts them.
"""
from __future__ import annotations

import math

import pandas as pd
import sqlalchemy as sa

from scoring.contract import COLUMN_NAMES, COLUMNS, format_timestamp
from service.store import crossings, scores
from service.store.tables import ASIDE

_BOOLS = {c.name for c in COLUMNS if c.kind == "bool"}
_INTEGERS = {c.name for c in COLUMNS if c.kind in ("int", "count", "positive")}


def export_frame(store, since=None, until=None):
    """Contract rows (text cells) of the stored crossings in [since, until), oldest first
    (inbound crossings stored aside left out and counted in ``attrs["left_out"]``)."""
    query = (sa.select(crossings, scores.c.refer, scores.c.referral_source)
             .select_from(crossings.outerjoin(scores, scores.c.crossing_id == crossings.c.crossing_id))
             .order_by(crossings.c.crossed_at, crossings.c.crossing_id))
    if since is not None:
        query = query.where(crossings.c.crossed_at >= since)
    if until is not None:
        query = query.where(crossings.c.crossed_at < until)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    kept = [r for r in rows if not r["crossing_id"].endswith(ASIDE)]
    frame = pd.DataFrame([_row(r) for r in kept], columns=list(COLUMN_NAMES))
    frame.attrs["left_out"] = len(rows) - len(kept)
    return frame


def _row(r):
    out = {}
    for name in COLUMN_NAMES:
        value = r[name] if name != "crossed_at" else None
        out[name] = _text(name, value)
    out["crossed_at"] = format_timestamp(r["crossed_at"], r["utc_offset_min"])
    if r["referral"] == "officer" and r["referral_source"] == "lookout":
        out["referral"] = "lookout"  # stored before the contract had the value
    if r["direction"] == "outbound" and r["inspected"] is None and r["refer"] is not None \
            and not r["refer"]:
        out["inspected"] = "false"
    return out


def _text(name, value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if name in _BOOLS:
        return "true" if value else "false"
    if name in _INTEGERS:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)
