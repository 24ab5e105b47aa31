"""Hand-made crossing logs for tests: a row at a time, in the contract's text form."""
from __future__ import annotations

import numpy as np
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
T0 = pd.Timestamp("2025-03-01T00:00:00Z")


def at(hours):
    """The contract's text form of T0 plus ``hours``."""
    return (T0 + pd.Timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


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


#: declared values of random_log's trucks: octave edges (2**11, 2**13) and no value
VALUES = ["", "0", "300", "1024", "2047.99", "2048", "4096", "8191.5", "8192", "9000",
          "30000"]


def random_log(seed, n=300):
    """``n`` random rows of a few plates, ports and carriers over 45 days (ties likely)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        direction = rng.choice(["outbound", "inbound"])
        truck = rng.random() < 0.3
        inspected = direction == "outbound" and rng.random() < 0.3
        picked = rng.choice(["officer", "random", "model"])
        unpicked = rng.choice(["none", "none", "", "model"])  # referred, not inspected
        rows.append(row(
            crossing_id=f"c{i:04d}", direction=direction,
            # coarse times make ties, windows edges and lag edges likely
            crossed_at=at(float(rng.integers(0, 24 * 45)) * rng.choice([1, 0.5])),
            plate_id=f"p{rng.integers(0, 15)}", port_code=rng.choice(["2304", "2402", "2506"]),
            vehicle_class="truck" if truck else "personal",
            carrier_id=f"k{rng.integers(0, 3)}" if truck else "",
            inspected=("true" if inspected else "false") if direction == "outbound" else "",
            seizure=rng.choice(["true", "false"]) if inspected else "",
            registration_age_days="" if rng.random() < 0.1 else str(rng.integers(0, 900)),
            referral=(picked if inspected else unpicked) if direction == "outbound" else "",
            # octave edges (2048 = 2**11) and no value, for the carrier's value band
            manifest_value_usd=rng.choice(VALUES) if truck else ""))
    return rows


def convoy_rows(day0=0, port="2304"):
    """p, q and r leaving by ``port`` together on three days, then p again and elsewhere.

    Day 1: q 3 min after p, r 9 min after. Day 2: q 10 min after p (still within), r 30
    min after. Day 3: p after q and r (both seen with p before); then p by another port.
    Day 11: p 5 min after q, their last pair 8 days old (past the 7-day lookback); day
    12: the same, seen again the day before.
    """
    minute = 1 / 60
    rows = []
    for day, (a, b, c) in enumerate([(0, 3, 9), (0, 10, 30), (0, 4, 7)]):
        base = 24 * (day0 + day + 1)
        rows += [row(crossing_id=f"p{day}", crossed_at=at(base + a * minute), plate_id="p"),
                 row(crossing_id=f"q{day}", crossed_at=at(base + b * minute), plate_id="q"),
                 row(crossing_id=f"r{day}", crossed_at=at(base + c * minute), plate_id="r")]
    rows += [row(crossing_id="p-again", crossed_at=at(24 * (day0 + 3) + 12 * minute),
                 plate_id="p"),
             row(crossing_id="elsewhere", crossed_at=at(24 * (day0 + 4)), plate_id="p",
                 port_code="2402")]
    for day, name in ((11, "late"), (12, "later")):
        rows += [row(crossing_id=f"q-{name}", crossed_at=at(24 * (day0 + day)), plate_id="q"),
                 row(crossing_id=f"p-{name}", crossed_at=at(24 * (day0 + day) + 5 * minute),
                     plate_id="p")]
    return [dict(r, port_code=port if r["port_code"] == "2304" else r["port_code"])
            for r in rows]
