"""Hand-made crossing logs for tests: a row at a time, in the contract's text form."""
from __future__ import annotations

import pandas as pd

from scoring.contract import COLUMN_NAMES, parse_frame

BASE = {
    "crossing_id": "c0", "crossed_at": "2025-03-04T17:00:00-06:00", "direction": "outbound",
    "port_code": "2304", "vehicle_class": "personal", "body_type": "sedan",
    "plate_id": "p1", "plate_jurisdiction": "US-TX", "vehicle_make": "Ford",
    "vehicle_model_year": "2018", "registration_age_days": "400", "occupants": "2",
    "carrier_id": "", "trailer_empty": "", "manifest_value_usd": "",
    "referral": "none", "selection_probability": "0.02", "inspected": "false",
    "seizure": "", "firearms_seized": "", "rounds_seized": "", "currency_seized_usd": "",
}
INBOUND_BLANK = {"referral": "", "selection_probability": "", "inspected": ""}


def row(**values):
    """One row of text cells: BASE with overrides (inbound rows get blank outcomes)."""
    out = dict(BASE)
    if values.get("direction") == "inbound":
        out.update(INBOUND_BLANK)
    out.update({k: "" if v is None else str(v) for k, v in values.items()})
    return out


def raw(rows):
    """A text frame of rows, every contract column present."""
    return pd.DataFrame(rows, columns=list(COLUMN_NAMES)).fillna("")


def log(rows):
    """The canonical frame of hand-made rows."""
    return parse_frame(raw(rows)).frame
