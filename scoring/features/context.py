"""Context features: what the crossing alone says, for a whole log or for one crossing.

:func:`context_frame` (training, batch, Dask partitions) and :func:`context_record`
(the service) call the same small functions, so they cannot drift apart. Local time is
the port's own zone with its daylight-saving rules.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from scoring.features.catalog import TRUCK_ONLY
from scoring.features.columns import objects, text
from scoring.features.stats import DAY_US
from scoring.paths import extra_ports_file
from scoring.ports import port_zones


def _zones():
    """The port table's time zones (shipped ports plus ``$SOUTHBOUND_PORTS_FILE``)."""
    return port_zones(extra_ports_file())


def _local_parts(micros, zone):
    """(hour, weekday) at the port, from UTC µs and the port's zone; NaN without one.

    The port's own zone with its daylight-saving rules, never the offset the timestamp
    was written with (logs written in UTC give the same hour as logs in local time).
    """
    if zone is None:
        return math.nan, math.nan
    local = datetime.fromtimestamp(micros // 1_000_000, tz=zone)
    return float(local.hour), float(local.weekday())


def _local_parts_frame(micros, ports):
    """Vectorised :func:`_local_parts`: one conversion per time zone of the ports."""
    zones = _zones()
    hour = np.full(len(micros), np.nan)
    weekday = np.full(len(micros), np.nan)
    codes, distinct = pd.factorize(np.asarray(ports, dtype=object))
    by_zone = {}   # zone name: (zone, the codes of its ports), through the distinct ports
    for code, port in enumerate(distinct):
        zone = zones.get(port)
        if zone is not None:
            by_zone.setdefault(zone.key, (zone, []))[1].append(code)
    for zone, port_codes in by_zone.values():
        index = np.flatnonzero(np.isin(codes, port_codes))
        seconds = micros[index] // 1_000_000  # the same whole seconds as the record path
        local = pd.to_datetime(seconds, unit="s", utc=True).tz_convert(zone)
        hour[index] = local.hour
        weekday[index] = local.day_of_week
    return hour, weekday


def _utc_year(micros):
    return (np.asarray(micros, dtype=np.int64) // DAY_US).astype("datetime64[D]").astype(
        "datetime64[Y]").astype(np.int64) + 1970


def _plate_country(jurisdiction):
    if jurisdiction is None or jurisdiction == "UNK":
        return jurisdiction
    return jurisdiction.split("-", 1)[0]


def context_frame(frame):
    """Context features of every row of a canonical log frame.

    Parameters
    ----------
    frame : DataFrame, shape (n, contract columns)
        As returned by :func:`scoring.contract.read_log`.

    Returns
    -------
    DataFrame, shape (n, len(CONTEXT))
    """
    micros = frame["crossed_at"].to_numpy(np.int64)
    ports = objects(frame["port_code"])
    hour, weekday = _local_parts_frame(micros, ports)
    year = _utc_year(micros)
    truck = (frame["vehicle_class"] == "truck").to_numpy()
    juris = frame["plate_jurisdiction"]
    out = pd.DataFrame({
        "port_code": text(frame["port_code"], ports),
        "local_hour": hour,
        "local_weekday": weekday,
        "vehicle_class": text(frame["vehicle_class"]),
        "body_type": text(frame["body_type"]),
        "plate_country": objects(juris, _plate_country),
        "plate_jurisdiction": text(juris),
        "vehicle_make": objects(frame["vehicle_make"], _make_key),
        "vehicle_age_years": year - frame["vehicle_model_year"].to_numpy(float),
        "registration_age_days": registration_age(frame["registration_age_days"].to_numpy(float)),
        "occupants": frame["occupants"].to_numpy(float),
    }, index=frame.index)
    for name in TRUCK_ONLY:
        out[name] = np.where(truck, frame[name].to_numpy(float), np.nan)
    return out


def context_record(record):
    """Context features of one canonical record (the service's execution).

    Returns
    -------
    dict
        The same keys and values as one row of :func:`context_frame`.
    """
    hour, weekday = _local_parts(record["crossed_at"], _zones().get(record["port_code"]))
    year = datetime.fromtimestamp(record["crossed_at"] // 1_000_000, tz=timezone.utc).year
    truck = record["vehicle_class"] == "truck"
    make = record.get("vehicle_make")
    out = {
        "port_code": record["port_code"],
        "local_hour": hour,
        "local_weekday": weekday,
        "vehicle_class": record["vehicle_class"],
        "body_type": record.get("body_type"),
        "plate_country": _plate_country(record.get("plate_jurisdiction")),
        "plate_jurisdiction": record.get("plate_jurisdiction"),
        "vehicle_make": None if make is None else _make_key(make),
        "vehicle_age_years": float(year - record["vehicle_model_year"]),
        "registration_age_days": registration_age(float(record["registration_age_days"])),
        "occupants": float(record["occupants"]),
    }
    for name in TRUCK_ONLY:
        out[name] = float(record[name]) if truck else np.nan
    return out


def registration_age(days):
    """The registration age as the model reads it: 0 is unknown (NaN).

    Exports write 0 where the age is unknown (world c at two ports: 39,000 of its
    780,000 outbound rows, all at those ports), while a vehicle registered that same day
    is rare where the age is known (35 of 974,000 rows in world a). Read as a fresh
    registration, a port's unknown ages look like the newest titles there are. Chosen by
    screen: true recall at 1% on world c +0.015, +0.011 and 0.000 (seeds 1-3); a and b
    hardly hold a 0 (benchmarks/README.md, "Shallower trees, and a registration age of
    0 read as unknown"). Numpy arrays and floats alike.

    Examples
    --------
    >>> registration_age(0.0), registration_age(3.0)
    (nan, 3.0)
    """
    return np.where(days == 0, np.nan, days) if isinstance(days, np.ndarray) else (
        math.nan if days == 0 else days)


def _make_key(make):
    return " ".join(str(make).upper().split())

