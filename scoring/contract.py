"""The crossing log, version 1: column table, parsing and validation.

One definition of every column serves both executions: :func:`parse_frame`
checks a whole log at once (training, batch scoring) and :func:`parse_record`
checks one crossing sent to the service. Both return the canonical form:

- ``crossed_at`` as UTC microseconds since the epoch (int64) plus
  ``utc_offset_min``, the offset the timestamp was written with (int);
- numbers and booleans as float (booleans 1.0 / 0.0), NaN when unknown;
- text and enumerations as ``str``, ``None`` (or NaN in a frame) when unknown.

See ``../shared/contract/crossing-log.md``.
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring.paths import extra_ports_file
from scoring.ports import PortTableError, known_ports

VERSION = 1

DIRECTIONS = ("outbound", "inbound")
VEHICLE_CLASSES = ("personal", "truck", "bus")
BODY_TYPES = ("sedan", "suv", "pickup", "van", "motorcycle", "tractor_trailer",
              "box_truck", "bus", "other")
REFERRALS = ("none", "model", "random", "explore", "lookout", "officer")
#: referrals whose selection probability the contract fixes: a lookout always refers
CERTAIN_REFERRALS = ("lookout",)
OUTCOME_COLUMNS = ("referral", "selection_probability", "inspected", "seizure",
                   "firearms_seized", "rounds_seized", "currency_seized_usd")
#: what secondary found: more than 0 only where a seizure was made
SEIZED_AMOUNTS = ("firearms_seized", "rounds_seized", "currency_seized_usd")

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
#: the years a timestamp may have (the pattern's)
YEARS = (1900, 2199)
#: a model year may be at most this many years after the year of the crossing
MODEL_YEAR_AHEAD = 1
_PORT = re.compile(r"[0-9]{4}")
_JURISDICTION = re.compile(r"(?:UNK|[A-Z]{2}-[A-Z0-9]{1,3})")
#: what a number may look like (float() alone would also take "1_000", "٣" or " inf")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: the longest value quoted whole in a message
_SHOW_CHARS = 80
_TRUE = frozenset({"true", "1", "1.0"})
_FALSE = frozenset({"false", "0", "0.0"})


class ContractError(ValueError):
    """A value that breaks the crossing-log contract.

    ``str(error)`` is the one line a user sees: where, which column, which value,
    and what is allowed.
    """

    def __init__(self, message, *, source=None, row=None, column=None, value=None):
        self.message = message
        self.source = source
        self.row = row
        self.column = column
        self.value = value
        super().__init__(str(self))

    def __str__(self):
        where = [str(self.source)] if self.source else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def show_value(value):
    """``repr(value)`` for a message about a log's cell: one line, at most about 80
    characters."""
    if isinstance(value, str) and len(value) > _SHOW_CHARS:
        return repr(value[:_SHOW_CHARS]) + f"... ({len(value):,} characters)"
    try:
        text = repr(value)
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."


def show_json(value):
    """``value`` as JSON spells it, for a message about a request's field (``true``,
    ``null``, ``"2304"``; ``NaN`` for what Python's JSON reader makes of ``NaN``): one
    line, at most about 80 characters."""
    if isinstance(value, str) and len(value) > _SHOW_CHARS:
        return json.dumps(value[:_SHOW_CHARS], ensure_ascii=False) + f"... ({len(value):,} characters)"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"
    except TypeError:
        text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."


@dataclass(frozen=True)
class Column:
    """One column of the contract: its name, kind, whether it is required, the values
    it allows (an enumeration's), its plausible range ``bounds`` (low, high; both
    included), help."""

    name: str
    kind: str
    required: bool = False
    allowed: tuple = ()
    help: str = ""
    bounds: tuple = ()


COLUMNS = (
    Column("crossing_id", "id", True, help="unique id of this crossing event"),
    Column("crossed_at", "timestamp", True, help="ISO-8601 with UTC offset"),
    Column("direction", "enum", True, DIRECTIONS),
    Column("port_code", "port", True, help="4-digit CBP port code"),
    Column("vehicle_class", "enum", True, VEHICLE_CLASSES),
    Column("body_type", "enum", False, BODY_TYPES),
    Column("plate_id", "id", True, help="pseudonymous plate id"),
    Column("plate_jurisdiction", "jurisdiction", False),
    Column("vehicle_make", "text", False),
    # plausible ranges: a model year from 1900 to the crossing's year + 1
    # (MODEL_YEAR_AHEAD; the bound here is the last year a timestamp may have + 1),
    # a registration up to 100 years old, a full coach's 60 people
    Column("vehicle_model_year", "int", False, bounds=(1900, YEARS[1] + MODEL_YEAR_AHEAD)),
    Column("registration_age_days", "count", False, bounds=(0, 36_525)),
    Column("occupants", "positive", False, bounds=(1, 60)),
    Column("carrier_id", "text", False),
    Column("trailer_empty", "bool", False),
    Column("manifest_value_usd", "amount", False),
    Column("referral", "enum", False, REFERRALS),
    Column("selection_probability", "probability", False),
    Column("inspected", "bool", False),
    Column("seizure", "bool", False),
    Column("firearms_seized", "count", False),
    Column("rounds_seized", "count", False),
    Column("currency_seized_usd", "amount", False),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
BY_NAME = {c.name: c for c in COLUMNS}
TEXT_KINDS = ("id", "enum", "port", "jurisdiction", "text")


# --- one value at a time (the service) ------------------------------------

def _describe(kind, allowed=(), bounds=()):
    if bounds:
        return f"{'an integer' if kind in ('int', 'count', 'positive') else 'a number'} " \
               f"from {bounds[0]} to {bounds[1]}"
    return {
        "id": "a non-empty string",
        "enum": "one of " + ", ".join(allowed),
        "port": "a 4-digit port code",
        "jurisdiction": "an ISO 3166-2 code such as US-TX or MX-SON, or UNK",
        "text": "a string",
        "int": "an integer",
        "count": "an integer >= 0",
        "positive": "an integer >= 1",
        "amount": "a number >= 0",
        "probability": "a number in (0, 1]",
        "bool": "true or false",
        "timestamp": f"an ISO-8601 timestamp with a UTC offset (years {YEARS[0]}-{YEARS[1]})",
    }[kind]


def expects(column):
    """What a message says ``column`` takes: "an integer from 1 to 60", "true or false"."""
    if column.name == "vehicle_model_year":  # its bound is the crossing's year + 1
        return f"an integer from {column.bounds[0]} to the crossing's year + {MODEL_YEAR_AHEAD}"
    return _describe(column.kind, column.allowed, column.bounds)


def timestamp_fault(text):
    """What is wrong with a timestamp that :func:`parse_timestamp` refuses, in words:
    a year outside the contract's, or not the form at all.

    >>> timestamp_fault("1800-01-01T00:00:00Z")
    'outside the years 1900-2199'
    """
    if isinstance(text, str) and _ANY_YEAR_TIMESTAMP.fullmatch(text.strip()) \
            and not _TIMESTAMP.fullmatch(text.strip()):
        return f"outside the years {YEARS[0]}-{YEARS[1]}"
    return "not " + _describe("timestamp")


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


def _parse_scalar(column, value):
    """Return the canonical value of one cell, or raise ValueError."""
    kind = column.kind
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        if kind != "bool":
            raise ValueError(f"is not {expects(column)}")
        return 1.0 if value else 0.0
    if not isinstance(value, (str, numbers.Number)):  # a list, an object: never a cell
        raise ValueError(f"is not {expects(column)}")
    try:
        text = str(value).strip()
    except ValueError:  # an int of more than 4,300 digits
        raise ValueError(f"is not {expects(column)}") from None
    if text == "":
        return None
    if kind in ("id", "text"):
        check_text(text)
        return text
    if kind == "timestamp":  # parse_value("crossed_at", ...): UTC µs
        try:
            return parse_timestamp(text)[0]
        except ValueError as exc:
            raise ValueError(f"is {exc}") from None
    if kind == "enum":
        if text not in column.allowed:
            raise ValueError(f"is not {expects(column)}")
        return text
    if kind == "port":
        if not _PORT.fullmatch(text):
            raise ValueError(f"is not {expects(column)}")
        return text
    if kind == "jurisdiction":
        if not _JURISDICTION.fullmatch(text):
            raise ValueError(f"is not {expects(column)}")
        return text
    if kind == "bool":
        low = text.lower()
        if low in _TRUE:
            return 1.0
        if low in _FALSE:
            return 0.0
        raise ValueError(f"is not {expects(column)}")
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"is not {expects(column)}")
    number = float(text)
    if not math.isfinite(number) or not bool(_number_ok(column, number)):
        raise ValueError(f"is not {expects(column)}")
    return number


def check_text(text):
    """Free text must be storable: no NUL (PostgreSQL refuses it), valid Unicode.

    Raises ValueError saying which.
    """
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (it has a lone surrogate)") from None


def parse_value(name, value, *, source="request", show=show_value):
    """Check one column's value; return it canonical (None / NaN when empty).

    ``crossed_at`` gives its UTC µs (its offset is :func:`parse_timestamp`'s to give).

    >>> parse_value("inspected", "true")
    1.0
    """
    column = BY_NAME[name]
    try:
        parsed = _parse_scalar(column, value)
    except ValueError as exc:
        raise ContractError(f"value {show(value)} {exc}", source=source, column=name,
                            value=value) from None
    if parsed is None:
        return None if column.kind in TEXT_KINDS else math.nan
    return parsed


def parse_record(record, *, source="request", show=show_value):
    """Check one crossing (a mapping of column to value) and return its canonical dict.

    Unknown keys are ignored. Raises :class:`ContractError` naming the field; ``show``
    spells the value in its message (:func:`show_json` for a request's JSON).

    >>> r = parse_record({"crossing_id": "c1", "crossed_at": "2025-01-06T08:00:00Z",
    ...     "direction": "outbound", "port_code": "2304", "vehicle_class": "personal",
    ...     "plate_id": "p1"})
    >>> r["crossed_at"], r["utc_offset_min"], r["occupants"]
    (1736150400000000, 0, nan)
    """
    if not isinstance(record, dict):
        raise ContractError("a crossing must be a JSON object", source=source)
    out = {}
    for column in COLUMNS:
        value = record.get(column.name)
        if column.kind == "timestamp":
            if value is None or str(value).strip() == "":
                raise ContractError("is required", source=source, column=column.name)
            try:
                out["crossed_at"], out["utc_offset_min"] = parse_timestamp(str(value))
            except ValueError as exc:
                raise ContractError(f"value {show(value)} is {exc}", source=source,
                                    column=column.name, value=value) from None
            continue
        try:
            parsed = _parse_scalar(column, value)
        except ValueError as exc:
            raise ContractError(f"value {show(value)} {exc}", source=source,
                                column=column.name, value=value) from None
        if parsed is None:
            if column.required:
                raise ContractError("is required", source=source, column=column.name)
            parsed = None if column.kind in TEXT_KINDS else math.nan
        out[column.name] = parsed
    problem = _row_consistency(out)
    if problem:
        name, message = problem
        value = record.get(name)
        raise ContractError(f"value {show(value)}: {message}", source=source, column=name,
                            value=value)
    if out["referral"] in CERTAIN_REFERRALS:  # the contract fixes its probability
        out["selection_probability"] = 1.0
    return out


_AHEAD_MESSAGE = "a model year more than one year after the year of the crossing"
_LOOKOUT_MESSAGE = "a lookout referral has selection probability 1"


def _row_consistency(row):
    """Cross-column rules of one canonical row: (column, message) or None."""
    if model_year_ahead(row["vehicle_model_year"], row["crossed_at"]):
        return "vehicle_model_year", _AHEAD_MESSAGE
    if row["direction"] == "inbound":
        for name in ("selection_probability", "seizure", "firearms_seized",
                     "rounds_seized", "currency_seized_usd"):
            if not _missing(row[name]):
                return name, "outcome columns must be empty on inbound rows"
        if row["referral"] not in (None, "none"):
            return "referral", "inbound rows are never referred"
        if row["inspected"] == 1.0:
            return "inspected", "inbound rows are never inspected"
    if row["referral"] in CERTAIN_REFERRALS and not _missing(row["selection_probability"]) \
            and row["selection_probability"] != 1.0:
        return "selection_probability", _LOOKOUT_MESSAGE
    return outcome_problem(row)


def outcome_problem(row):
    """A contradictory outcome in a canonical row: (column, message) or None.

    A seizure needs an inspection; a seized amount above 0 needs both an inspection
    and a seizure (``seizure: false`` with ``firearms_seized: 3`` is refused, not
    learnt from). The service checks recorded outcomes with the same rule.

    >>> outcome_problem({"inspected": 1.0, "seizure": 0.0, "firearms_seized": 3.0,
    ...                  "rounds_seized": 0.0, "currency_seized_usd": math.nan})
    ('firearms_seized', 'is more than 0 but seizure is false')
    """
    if not _missing(row["seizure"]) and row["inspected"] != 1.0:
        return "seizure", "seizure is given but inspected is not true"
    for name in SEIZED_AMOUNTS:
        x = row[name]
        if _missing(x) or not x > 0:
            continue
        if row["inspected"] != 1.0:
            return name, "is more than 0 but inspected is not true"
        if row["seizure"] == 0.0:
            return name, "is more than 0 but seizure is false"
    return None


def _missing(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


# --- a whole log (training, batch scoring) ---------------------------------

@dataclass
class ReadResult:
    """A parsed log: the canonical frame and what was set aside."""

    frame: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    ignored_columns: tuple = ()
    source: str = ""
    #: port codes the port table lacks, with their row counts (read and scored as
    #: unseen ports, not refused: a log is what a port's systems wrote)
    unknown_ports: dict = field(default_factory=dict)


def read_log(path, *, on_error="raise", known_ports=None):
    """Read one crossing log (CSV or Parquet) into the canonical frame.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` files are read as Parquet, anything else as CSV (UTF-8).
    on_error : {"raise", "skip"}
        ``raise`` stops at the first bad row with a :class:`ContractError`;
        ``skip`` sets bad rows aside in ``ReadResult.rejected`` with their reason.
    known_ports : collection of str, optional
        The port table's codes; default the shipped table plus
        ``$SOUTHBOUND_PORTS_FILE``. Others are counted in ``ReadResult.unknown_ports``.

    Returns
    -------
    ReadResult
        ``frame`` has one row per accepted crossing, in file order.

    Examples
    --------
    >>> result = read_log("crossings.csv")            # doctest: +SKIP
    >>> result.frame[["crossing_id", "crossed_at"]]   # doctest: +SKIP
    """
    path = Path(path)
    raw = _read_raw(path)
    return parse_frame(raw, source=str(path), on_error=on_error, first_row=first_row(path),
                       known_ports=known_ports)


def first_row(path):
    """The row number errors give a file's first data row: 2 in a CSV (the header is
    row 1), 1 in Parquet."""
    return 1 if Path(path).suffix.lower() == ".parquet" else 2


def _read_raw(path):
    if not path.exists():
        raise ContractError("no such file", source=str(path))
    if path.suffix.lower() == ".parquet":
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise ContractError(f"not a readable Parquet file ({_first_line(exc)})",
                                source=str(path)) from None
        return _parquet_text(table)
    quotes = _check_utf8(path)
    names = _read_header(path)
    if quotes % 2 == 0:
        # An odd number of quote characters means a quoted field left open
        # somewhere (a cut file): pyarrow would swallow the rest of the file
        # into that one cell, so such a file goes straight to the strict reader.
        try:
            return _read_csv_arrow(path, names)
        except pa.ArrowInvalid:
            pass  # a row with the wrong number of fields, a quoted newline, ...
    return _read_csv_python(path, names)


def _read_header(path):
    """The column names of a CSV file (blank lines before it skipped, BOM dropped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            names = next((record for record in csv.reader(handle, strict=True) if record),
                         None)
        except csv.Error as exc:
            raise ContractError(f"malformed CSV header: {_first_line(exc)}", source=str(path),
                                row=1) from None
    if names is None:
        raise ContractError("the file is empty (no header row)", source=str(path))
    if any("\x00" in name for name in names):
        raise ContractError("the header has NUL bytes: the file is not UTF-8 text "
                            "(is it UTF-16?)", source=str(path), row=1)
    seen = set()
    for name in names:
        if name in BY_NAME and name in seen:
            raise ContractError("appears more than once in the header", source=str(path),
                                row=1, column=name)
        seen.add(name)
    return names


def _to_text_frame(table):
    return table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow")
                           if t in (pa.string(), pa.large_string()) else None)


def _read_csv_arrow(path, names):
    """Every column as text, multi-threaded; ArrowInvalid on anything irregular."""
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names}, strings_can_be_null=False,
        quoted_strings_can_be_null=False))
    if table.column_names != list(names) or any(t != pa.string() for t in table.schema.types):
        raise pa.ArrowInvalid("pyarrow read the header differently")
    return _to_text_frame(table)


def _read_csv_python(path, names):
    """The strict, slower reader: says which row is malformed, and how.

    Rows are numbered as :func:`parse_frame` numbers them: the header is row 1,
    blank lines are skipped.
    """
    width = len(names)
    rows = []
    row = 0
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for record in reader:
                if not record:
                    continue
                row += 1
                if row == 1:
                    continue
                if len(record) != width:
                    last = next((r for r in reader if r), None) is None
                    raise ContractError(
                        f"malformed CSV: {len(record)} fields where the header has {width}"
                        + (" (is the file cut short?)" if last and len(record) < width
                           else ""), source=str(path), row=row)
                rows.append(record)
        except csv.Error as exc:
            message = _first_line(exc)
            if message == "unexpected end of data":
                message = ("a quoted field is still open at the end of the file "
                           "(is the file cut short, or a quote missing?)")
            raise ContractError(f"malformed CSV: {message}", source=str(path),
                                row=row + 1) from None
    columns = [pa.array([r[i] for r in rows], type=pa.string()) for i in range(width)]
    return _to_text_frame(pa.Table.from_arrays(columns, names=list(names)))


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_utf8(path, chunk=1 << 20):
    """Name the first line that is not UTF-8 (pandas would only say 'codec can't decode').

    Returns the number of double-quote characters in the file.
    """
    line = 1
    tail = b""
    quotes = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            quotes += block.count(b'"')
            data = tail + block
            cut = data.rfind(b"\n") + 1
            whole, tail = data[:cut], data[cut:]
            _check_utf8_block(path, whole, line)
            line += whole.count(b"\n")
    _check_utf8_block(path, tail, line)
    return quotes


def _check_utf8_block(path, data, first_line):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = first_line + data[: exc.start].count(b"\n")
        bad = data[exc.start: exc.start + 4]
        raise ContractError(f"not UTF-8 text (bytes {bad!r})", source=str(path),
                            row=row) from None


def _parquet_text(table):
    """A Parquet table as the contract's text cells, so one parser serves both formats:
    text columns stay in arrow (a null is an empty cell), typed ones are written as
    text by :func:`_stringify`; index columns pandas stored are no columns."""
    index = {c for c in (table.schema.pandas_metadata or {}).get("index_columns", [])
             if isinstance(c, str)}
    names, columns = [], []
    for name, column in zip(table.column_names, table.columns):
        if name in index:
            continue
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # large_string: what pandas' arrow strings hold, so no copy on the way there
            column = pc.fill_null(column, "").cast(pa.large_string())
        else:
            typed = pa.Table.from_arrays([column], names=[name]).to_pandas()
            column = pa.array(_stringify(typed).iloc[:, 0].to_numpy(dtype=object),
                              type=pa.large_string())
        names.append(str(name))
        columns.append(column)
    return _to_text_frame(pa.Table.from_arrays(columns, names=names))


def _stringify(raw):
    """Typed Parquet columns to the contract's text forms, so one parser serves both."""
    out = pd.DataFrame(index=raw.index)
    for name in raw.columns:
        col = raw[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
        elif pd.api.types.is_bool_dtype(col):
            text = col.map({True: "true", False: "false"})
        elif pd.api.types.is_float_dtype(col):
            text = col.map(lambda v: "" if pd.isna(v) else repr(float(v)))
        else:
            text = col.astype(object).where(col.notna(), "").astype(str)
        out[str(name)] = text.fillna("").astype(str)
    return out


def parse_frame(raw, *, source="<frame>", on_error="raise", first_row=2, known_ports=None):
    """Validate a frame of text cells and return a :class:`ReadResult`.

    ``first_row`` is the row number reported for the frame's first row (2 for a
    CSV file, whose row 1 is the header); ``known_ports`` as in :func:`read_log`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error {on_error!r} is not 'raise' or 'skip'")
    raw = raw.reset_index(drop=True)
    missing = [name for name in REQUIRED if name not in raw.columns]
    if missing:
        raise ContractError(f"missing required column {missing[0]!r}", source=source,
                            row=first_row - 1 if first_row > 1 else None)
    ignored = tuple(c for c in raw.columns if c not in BY_NAME)
    n = len(raw)
    out = {}
    reasons = np.full(n, None, dtype=object)
    has_reason = np.zeros(n, dtype=bool)

    def reject(mask, column, message_for):
        mask = np.asarray(mask, dtype=bool) & ~has_reason
        if not mask.any():
            return
        has_reason[mask] = True
        if on_error == "raise":
            i = int(np.flatnonzero(mask)[0])
            value = raw[column].iloc[i] if column in raw.columns else None
            raise ContractError(message_for(value), source=source, row=first_row + i,
                                column=column, value=value)
        for i in np.flatnonzero(mask):
            value = raw[column].iloc[i] if column in raw.columns else None
            reasons[i] = f"column {column}: {message_for(value)}"

    for column in COLUMNS:
        text = (_stripped(raw[column.name].astype(str)) if column.name in raw.columns
                else pd.Series([""] * n, dtype=str))
        empty = (text == "").to_numpy()
        if column.required:
            reject(empty, column.name, lambda v: "is required")
        if column.kind == "timestamp":
            micros, offset, bad = _parse_timestamps(text)
            reject(bad & ~empty, column.name,
                   lambda v: f"value {show_value(v)} is {timestamp_fault(v)}")
            out["crossed_at"], out["utc_offset_min"] = micros, offset
            continue
        if column.kind in ("id", "text"):
            nul = (text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
                   if _may_hold(text, b"\x00") else np.zeros(n, dtype=bool))
            reject(nul, column.name, lambda v: f"value {show_value(v)} contains a NUL character")
        values, bad = _parse_series(column, text, empty)
        reject(bad & ~empty, column.name,
               lambda v, c=column: f"value {show_value(v)} is not {expects(c)}")
        out[column.name] = values

    frame = pd.DataFrame(out)
    _frame_consistency(frame, reject)
    certain = frame["referral"].isin(CERTAIN_REFERRALS).to_numpy()
    if certain.any():  # the contract fixes their probability: 1 where the log left it empty
        frame.loc[certain, "selection_probability"] = 1.0
    dup = _repeated(frame["crossing_id"])
    reject(dup, "crossing_id", lambda v: f"value {show_value(v)} is a repeated crossing_id")

    bad_rows = has_reason
    rejected = raw.loc[bad_rows].copy()
    rejected.insert(0, "reason", reasons[bad_rows])
    rejected.insert(0, "row", np.flatnonzero(bad_rows) + first_row)
    if bad_rows.any():   # (a take of every row when none is bad: a copy of the frame)
        frame = frame.loc[~bad_rows].reset_index(drop=True)
    frame["crossed_at"] = frame["crossed_at"].astype(np.int64)
    frame["utc_offset_min"] = frame["utc_offset_min"].astype(np.int64)
    return ReadResult(frame, rejected.reset_index(drop=True), ignored, source,
                      _unknown_ports(frame["port_code"], known_ports))


def _repeated(ids):
    """``ids.duplicated()`` as a numpy array; when every id is there and each is greater
    than the one before (a log written in id order), none repeats: one comparison of
    neighbours instead of a hash of every id (1M ids: 0.02 s against 0.25 s)."""
    if len(ids) > 1 and not ids.isna().any():
        text = _arrow_text(ids)
        if pc.all(pc.less(text.slice(0, len(text) - 1), text.slice(1))).as_py():
            return np.zeros(len(ids), dtype=bool)
    return ids.duplicated().to_numpy()


def _unknown_ports(codes, known=None):
    """{code: rows} of the codes the port table lacks, by code."""
    if known is None:
        try:
            known = known_ports(extra_ports_file())
        except PortTableError as exc:  # the commands' one line and exit 2
            raise ContractError(str(exc)) from None
    unknown = codes[~codes.isin(list(known))].value_counts()
    return {str(code): int(n) for code, n in sorted(unknown.items())}


def _parse_series(column, text, empty):
    kind = column.kind
    if kind in TEXT_KINDS:
        pattern = {"port": _PORT, "jurisdiction": _JURISDICTION}.get(kind)
        if kind == "enum":
            bad = ~text.isin(column.allowed).to_numpy()
        elif kind == "port" and (digits := _ascii_digits(text, empty)) is not None:
            # all digits: [0-9]{4} is four bytes of them
            length = pc.binary_length(_arrow_text(text)).to_numpy(zero_copy_only=False)
            bad = ~(digits & (length == 4))
        elif pattern is not None:
            bad = ~text.str.fullmatch(pattern.pattern).fillna(False).to_numpy(dtype=bool)
        else:
            bad = np.zeros(len(text), dtype=bool)
        return (text.mask(empty) if empty.any() else text).reset_index(drop=True), bad & ~empty
    if kind == "bool":
        low = text.str.lower()
        values = np.where(low.isin(_TRUE), 1.0, np.where(low.isin(_FALSE), 0.0, np.nan))
        return values, np.isnan(values) & ~empty
    well_formed = _ascii_digits(text, empty)  # the common case: whole numbers, digits only
    if well_formed is None:
        well_formed = text.str.fullmatch(_NUMBER.pattern).fillna(False).to_numpy(dtype=bool)
    parsed = _to_float(text, empty | ~well_formed)
    finite = np.isfinite(parsed)
    ok = finite & _number_ok(column, np.where(finite, parsed, 0.0))
    return np.where(ok, parsed, np.nan), ~ok & ~empty


def _stripped(text):
    """``text.str.strip()``; the column itself when no cell can have anything to strip:
    all its characters are printable ASCII other than the space (one scan of arrow's
    character data, not a trim of every cell)."""
    data = _char_data(text)
    if data is not None and not any(len(d) and (d.min() < 0x21 or d.max() > 0x7E)
                                    for d in data):
        return text
    return text.str.strip()


def _ascii_digits(text, empty):
    """Where each cell is ASCII digits only (matches ``[0-9]+``), when every non-empty
    cell is: the exact answer of the number and port patterns for such a column, at a
    fraction of a regular expression's cost. None when some cell is something else
    (the caller's pattern decides then)."""
    digits = pc.ascii_is_decimal(_arrow_text(text))
    digits = np.asarray(pc.fill_null(digits, False).to_numpy(zero_copy_only=False), dtype=bool)
    return digits if (digits | empty).all() else None


def _to_float(text, empty):
    """Text to float, NaN where empty or not a number (arrow's cast, pandas' when it fails)."""
    if empty.all():
        return np.full(len(text), np.nan)
    try:
        arrow = pa.array(text.to_numpy(dtype=object), type=pa.string()) \
            if not isinstance(text.dtype, pd.StringDtype) else pa.array(text)
        cast = pc.cast(pc.if_else(pa.array(empty), None, arrow), pa.float64())
        return cast.to_numpy(zero_copy_only=False).astype(float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        kept = text.astype(object).where(~empty, None)
        return pd.to_numeric(kept, errors="coerce").to_numpy(dtype=float)


def _number_ok(column, x):
    """Whether each finite number ``x`` (an array, or one float) is one ``column`` takes:
    its kind's rule and its plausible range. The one rule of both paths: the log
    reader's (a column at a time) and the service's (a value at a time)."""
    kind = column.kind
    if kind == "int":
        ok = x == np.floor(x)
    elif kind == "count":
        ok = (x >= 0) & (x == np.floor(x))
    elif kind == "positive":
        ok = (x >= 1) & (x == np.floor(x))
    elif kind == "amount":
        ok = x >= 0
    elif kind == "probability":
        ok = (x > 0) & (x <= 1)
    else:
        raise AssertionError(kind)
    if column.bounds:
        ok = ok & (x >= column.bounds[0]) & (x <= column.bounds[1])
    return ok


def model_year_ahead(model_year, crossed_at):
    """Where a model year is more than :data:`MODEL_YEAR_AHEAD` years after the (UTC)
    year of the crossing: arrays, or one value each (UTC µs); False where unknown."""
    year = (np.asarray(crossed_at, dtype=np.int64).astype("datetime64[us]")
            .astype("datetime64[Y]").astype(np.int64) + 1970)
    return np.asarray(model_year, dtype=float) > year + MODEL_YEAR_AHEAD


def _parse_timestamps(text):
    """Vectorised twin of :func:`parse_timestamp`: (µs, offset minutes, bad mask)."""
    well_formed = text.str.fullmatch(_TIMESTAMP.pattern).fillna(False).to_numpy(dtype=bool)
    micros = np.zeros(len(text), dtype=np.int64)
    try:   # arrow's ISO-8601 cast: ten times pandas' speed, all or nothing
        stamps = pc.cast(pc.if_else(pa.array(well_formed), _arrow_text(text), None),
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
        tail = pc.utf8_slice_codeunits(pc.filter(_arrow_text(text), pa.array(use)), -6)

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


def _may_hold(text, byte):
    """False when no cell of ``text`` can hold the character ``byte`` (one ASCII byte):
    arrow's character data, all cells' bytes end to end, lacks it (one scan, not a
    search per cell)."""
    data = _char_data(text)
    return data is None or any((d == ord(byte)).any() for d in data)


def _char_data(text):
    """The character data of a text Series that arrow holds, all its cells' bytes end
    to end, one numpy view per chunk (only the span the chunk's cells use); None when
    arrow does not hold it."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    out = []
    for chunk in text.array.__arrow_array__().chunks:
        data = chunk.buffers()[2]
        if data is not None:
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
            used = slice(int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)]))
            out.append(np.frombuffer(data, dtype=np.uint8)[used])
    return out


def _arrow_text(text):
    """A text Series as an arrow array (no copy when arrow holds it already)."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.array(text.array)
    return pa.array(text.to_numpy(dtype=object), type=pa.string())


def _frame_consistency(frame, reject):
    """Vectorised twin of :func:`_row_consistency`."""
    reject(model_year_ahead(frame["vehicle_model_year"], frame["crossed_at"]),
           "vehicle_model_year", lambda v: f"value {show_value(v)}: {_AHEAD_MESSAGE}")
    inbound = (frame["direction"] == "inbound").to_numpy()
    for name in ("selection_probability", "seizure", "firearms_seized",
                 "rounds_seized", "currency_seized_usd"):
        reject(inbound & frame[name].notna().to_numpy(), name,
               lambda v: f"value {show_value(v)}: outcome columns must be empty on inbound rows")
    referred = (frame["referral"].notna() & (frame["referral"] != "none")).to_numpy()
    reject(inbound & referred, "referral",
           lambda v: f"value {show_value(v)}: inbound rows are never referred")
    reject(inbound & (frame["inspected"] == 1.0).to_numpy(), "inspected",
           lambda v: f"value {show_value(v)}: inbound rows are never inspected")
    certain = frame["referral"].isin(CERTAIN_REFERRALS).to_numpy()
    probability = frame["selection_probability"].to_numpy(float)
    reject(certain & ~np.isnan(probability) & (probability != 1.0), "selection_probability",
           lambda v: f"value {show_value(v)}: {_LOOKOUT_MESSAGE}")
    not_inspected = (frame["inspected"] != 1.0).to_numpy()
    reject(frame["seizure"].notna().to_numpy() & not_inspected,
           "seizure", lambda v: f"value {show_value(v)}: seizure is given but inspected is not true")
    no_seizure = (frame["seizure"] == 0.0).to_numpy()
    for name in SEIZED_AMOUNTS:
        some = (frame[name] > 0).to_numpy()
        reject(some & not_inspected, name,
               lambda v: f"value {show_value(v)}: is more than 0 but inspected is not true")
        reject(some & no_seizure, name,
               lambda v: f"value {show_value(v)}: is more than 0 but seizure is false")
