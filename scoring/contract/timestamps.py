"""``crossed_at``: the timestamp's form, read one at a time (:func:`parse_timestamp`)
and a column at a time (:func:`parse_timestamps`), and written back.

Both readers give UTC microseconds since the epoch and the offset, in minutes, the
timestamp was written with; a test holds them equal on a grid of edges.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.contract.arrow import arrow_text
from scoring.contract.columns import YEARS, describe

# ASCII digits only ([0-9], not \d): Python's \d also matches other scripts' digits,
# pyarrow's does not, and the contract means 0-9. Both paths use these with fullmatch.
# Fields in range (years 1900-2199, hours 00-23, minutes and seconds 00-59, offsets up
# to ±23:59): beyond that what pandas (the frame path) and Python's datetime (the record
# path) accept differs (year 0, a "+0560" offset; pandas even refuses year 1000 or not
# depending on the file's other rows), so neither is asked. The API's schema uses it too.
TIMESTAMP_PATTERN = (
    r"(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3])"
    r":[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])")
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
#: the same form with any 4-digit year: a year outside the contract's is told so
_ANY_YEAR_TIMESTAMP = re.compile(TIMESTAMP_PATTERN.replace("(19|20|21)[0-9]{2}", "[0-9]{4}", 1))


def timestamp_fault(text):
    """What is wrong with a timestamp that :func:`parse_timestamp` refuses, in words:
    a year outside the contract's, or not the form at all.

    >>> timestamp_fault("1800-01-01T00:00:00Z")
    'outside the years 1900-2199'
    """
    if isinstance(text, str) and _ANY_YEAR_TIMESTAMP.fullmatch(text.strip()) \
            and not _TIMESTAMP.fullmatch(text.strip()):
        return f"outside the years {YEARS[0]}-{YEARS[1]}"
    return "not " + describe("timestamp")


def parse_timestamp(text):
    """Parse an ISO-8601 timestamp with offset into (UTC epoch µs, offset minutes).

    >>> parse_timestamp("2025-03-04T17:22:05-06:00")
    (1741130525000000, -360)
    """
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text.strip()):
        raise ValueError(timestamp_fault(text))
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:  # well formed but no such time: 2025-02-30, 25:00, +24:00
        raise ValueError(timestamp_fault(text)) from None
    offset = stamp.utcoffset()
    # Integer arithmetic: the frame path gets the same microseconds exactly.
    epoch = datetime(1970, 1, 1, tzinfo=stamp.tzinfo)
    delta = stamp - epoch
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    micros -= int(offset.total_seconds()) * 1_000_000
    return micros, int(offset.total_seconds() // 60)


def format_timestamp(micros, offset_min=0):
    """The inverse of :func:`parse_timestamp`: ISO-8601 in the offset it was written with.

    >>> format_timestamp(1741130525000000, -360)
    '2025-03-04T17:22:05-06:00'
    """
    zone = timezone(timedelta(minutes=int(offset_min)))
    stamp = datetime.fromtimestamp(micros // 1_000_000, tz=zone).replace(
        microsecond=int(micros % 1_000_000))
    text = stamp.isoformat()
    return text[:-6] + "Z" if offset_min == 0 else text


def parse_timestamps(text):
    """Vectorised twin of :func:`parse_timestamp`: (µs, offset minutes, bad mask).

    Parameters
    ----------
    text : Series of str, length n
        Stripped cells; an empty one is bad (the caller tells it apart).

    Returns
    -------
    micros, offset : int64 arrays, length n
        0 where bad.
    bad : bool array, length n
    """
    well_formed = text.str.fullmatch(_TIMESTAMP.pattern).fillna(False).to_numpy(dtype=bool)
    micros = np.zeros(len(text), dtype=np.int64)
    try:   # arrow's ISO-8601 cast: ten times pandas' speed, all or nothing
        stamps = pc.cast(pc.if_else(pa.array(well_formed), arrow_text(text), None),
                         pa.timestamp("us", tz="UTC"))
        bad = ~well_formed
        micros[~bad] = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)[~bad]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # a cell arrow cannot read (a day that is not in its month, a fraction finer
        # than a microsecond): pandas decides, a cell it cannot read is refused
        stamps = pd.to_datetime(text.where(well_formed, None), utc=True, format="ISO8601",
                                errors="coerce")
        bad = ~well_formed | stamps.isna().to_numpy()
        micros[~bad] = (stamps[~bad].dt.tz_localize(None).dt.as_unit("us")
                        .astype(np.int64).to_numpy())
    ok = ~bad
    offset = np.zeros(len(text), dtype=np.int64)
    zulu = text.str.endswith("Z").fillna(True).to_numpy(dtype=bool)
    use = ok & ~zulu
    if use.any():  # well formed: the offset's fields are digits, in arrow
        tail = pc.utf8_slice_codeunits(pc.filter(arrow_text(text), pa.array(use)), -6)

        def part(start, stop):
            return pc.utf8_slice_codeunits(tail, start, stop)
        # "+HH:MM" ends in six characters, "+HHMM" in five
        colon = pc.equal(part(3, 4), ":")
        sign = np.where(pc.if_else(colon, part(0, 1), part(1, 2)).to_numpy(
            zero_copy_only=False) == "-", -1, 1)
        h = pc.if_else(colon, part(1, 3), part(2, 4)).cast(pa.int64()).to_numpy()
        m = part(4, 6).cast(pa.int64()).to_numpy()
        offset[use] = sign * (h * 60 + m)
    return micros, offset, bad
