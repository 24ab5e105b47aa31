"""The port table: the ports of entry Southbound knows, read by column name.

The shipped table is ``scoring/data/sw_border_ports.csv`` (BTS's south-west border
ports); a site can add ports with a file of its own in the same form (at least
``port_code`` and ``port_name``; other columns are kept as they are). ``time_zone``
is the port's IANA zone, where its local hour and weekday come from (never from the
offset a timestamp was written with); a port without one has them missing. The API takes
crossings only at known ports; a log with other ports is read, and they are reported.
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scoring.paths import ports_file

#: the columns every port table must have
REQUIRED = ("port_code", "port_name")
_CODE = re.compile(r"[0-9]{4}")


class PortTableError(ValueError):
    """A port table that cannot be read: says which file, row and why."""


def read_ports(path):
    """The ports of one table file as ``{port_code: row}`` (each row a dict by column name).

    >>> read_ports(ports_file())["2304"]["port_name"]
    'Laredo'
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
            if missing:
                raise PortTableError(f"{path}: the port table has no column {missing[0]!r}")
            out = {}
            for row_number, row in enumerate(reader, start=2):
                code = (row.get("port_code") or "").strip()
                if not _CODE.fullmatch(code):
                    raise PortTableError(f"{path}, row {row_number}, column port_code: value "
                                         f"{code!r} is not a 4-digit port code")
                if code in out:
                    raise PortTableError(f"{path}, row {row_number}, column port_code: value "
                                         f"{code!r} appears twice")
                zone = (row.get("time_zone") or "").strip()
                if zone and _zone(zone) is None:
                    raise PortTableError(f"{path}, row {row_number}, column time_zone: value "
                                         f"{zone!r} is not an IANA time zone such as "
                                         "America/Chicago")
                out[code] = {k: (v or "").strip() for k, v in row.items() if k is not None}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PortTableError(f"{path}: cannot read the port table ({exc})") from None
    return out


@lru_cache(maxsize=8)
def port_table(extra=None):
    """The shipped ports, plus those of the file ``extra`` (its rows win), by code.

    >>> "2304" in port_table() and "9999" not in port_table()
    True
    """
    table = read_ports(ports_file())
    if extra:
        table = {**table, **read_ports(extra)}
    return table


def known_ports(extra=None):
    """The known port codes, sorted: a frozen tuple (for caches and the API's enum)."""
    return tuple(sorted(port_table(extra or None)))


@lru_cache(maxsize=64)
def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=8)
def port_zones(extra=None):
    """``{port_code: ZoneInfo}`` of the ports whose table row names a time zone."""
    return {code: _zone(row["time_zone"]) for code, row in port_table(extra).items()
            if row.get("time_zone")}
