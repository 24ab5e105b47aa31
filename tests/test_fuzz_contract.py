"""Fuzzed input to the crossing-log contract (issue 5, hardening).

Property-based tests (hypothesis) of ``scoring.contract``: whatever bytes, cells or
JSON values come in, the reader returns a parsed log or record, or raises a
:class:`ContractError` whose message is one line naming the file (and the row,
column and value when the problem is in a row), never another exception.

Inputs fuzzed per run (``max_examples``; a batched example holds several inputs):

==================================================  ========  =================
property                                            examples  inputs
==================================================  ========  =================
test_any_bytes_read_as_a_log                             200  200 files
test_one_changed_cell_is_named_by_row_and_column         100  100 logs
test_frame_and_record_agree_cell_by_cell                  30  30 x 1-24 cells
test_any_json_record_parses_or_names_the_field          1200  1,200 records
test_parse_value_takes_any_json_value                    600  600 values
test_parse_timestamp_takes_any_text                      600  600 texts
test_valid_logs_round_trip_through_csv                    40  40 x 1-6 rows
test_cli_train_on_a_fuzzed_file_exits_2_in_one_line        8  8 command runs
==================================================  ========  =================

About 2,800 examples, 3,200 fuzzed inputs counting the batched cells. On the
shared 2-core machine the module takes about 60 s. The file-level properties
cost about 50 ms an example (``parse_frame`` is about 40 ms on three rows), so
they get hundreds of examples. ``parse_record``, ``parse_value`` and
``parse_timestamp`` are microseconds, so they get thousands.
"""
from __future__ import annotations

import csv
import math
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from scoring.contract import (BODY_TYPES, BY_NAME, COLUMN_NAMES, DIRECTIONS, REFERRALS,
                              REQUIRED, TEXT_KINDS, VEHICLE_CLASSES, ContractError,
                              identifier, parse_frame, parse_record, parse_timestamp, parse_value,
                              read_log)
from southbound.cli import main
from tests.helpers.logs import raw, row

SETTINGS = dict(deadline=None, database=None)

# --- the inputs ----------------------------------------------------------------

#: three valid rows: an outbound one not inspected, an inspected truck, an inbound one
BASE_ROWS = (
    row(crossing_id="a"),
    row(crossing_id="b", vehicle_class="truck", body_type="tractor_trailer",
        carrier_id="k1", trailer_empty="true", manifest_value_usd="12000",
        referral="random", selection_probability="0.05", inspected="true", seizure="false",
        firearms_seized="0", rounds_seized="0", currency_seized_usd="0",
        crossed_at="2025-03-04T18:30:00-06:00"),
    row(crossing_id="c", direction="inbound", crossed_at="2025-03-03T09:00:00-07:00",
        plate_jurisdiction="MX-BCN"),
)
VALID_BYTES = raw(list(BASE_ROWS)).to_csv(index=False).encode()

#: cells that sit on the edge of some column's rules
TRICKY = [
    "", " ", "\t", "0", "-0", "1", "1.0", "2.5", "-1", "+1", ".5", "5.", "1e3", "1E-2",
    "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity", "1_000", "0x10", "1e",
    "١", "٢٣٠٤", "２３０４", " 2304 ", "23O4", "2304\n", "02304", "true", "TRUE", " false ",
    "yes", "1.00", "outbound", "Outbound", " inbound ", "truck", "sedan", "none", "random",
    "US-TX", "us-tx", "UNK", "MX-BCN1", "2025-03-04T17:22:05-06:00", "2025-03-04T17:22:05Z",
    "2025-03-04 17:22:05.123456789+0530", "2025-03-04T17:22", "2025-02-30T10:00:00Z",
    "2025-03-04T24:00:00Z", "2025-03-04T17:22:05+24:00", "2025-03-04T17:22:05+23:59",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2025-03-04T17:22:05",
    "\x00", "a\x00b", "\x1c", "\u2028", "\x85", "\ufeff", '"', '""', ",", "a,b", "a\nb",
    "\r", "\r\n", "'", "\\", "a" * 300,
]
#: text a UTF-8 file can hold (no lone surrogates)
FILE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
# (built from integers: st.from_regex costs several times more per example)
NUMBER_LIKE = st.one_of(st.integers(-10 ** 7, 10 ** 7).map(str), st.floats().map(repr),
                        st.floats(0, 1).map(lambda x: f"{x:.3f}"))


def _stamp(parts):
    year, month, day, hour, minute, second, fraction, sep, zone = parts
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}"
    if second is not None:
        text += f":{second:02d}" + (f".{fraction}" if fraction else "")
    return text + zone


#: well-formed timestamps, most of them real times, some not (month 13, +24:00, ...)
TIMESTAMP_LIKE = st.tuples(
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 60), st.none() | st.integers(0, 61),
    st.sampled_from(["", "5", "25", "123456", "1234567", "123456789"]), st.sampled_from("T "),
    st.sampled_from(["Z", "+00:00", "-00:00", "-06:00", "+0530", "-0700", "+14:00", "-23:59",
                     "+24:00", "+99:99"])).map(_stamp)
CELL = st.one_of(st.sampled_from(TRICKY), FILE_TEXT, NUMBER_LIKE, TIMESTAMP_LIKE)

#: JSON values, lone surrogates included (json.loads makes them from "\\ud800")
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        st.text(st.characters(), max_size=12), st.sampled_from(TRICKY),
                        st.text(st.characters(categories=("Cs",)), min_size=1, max_size=2))
JSON = st.recursive(JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


# --- what every error must look like -----------------------------------------------

def assert_one_line(exc, source):
    """A ContractError's message: one short line naming the source, row, column, value."""
    message = str(exc)
    assert message.splitlines() == [message], f"not one line: {message!r}"
    assert len(message) < 400 + len(str(source)), message
    assert message.startswith(str(source)), message
    if exc.row is not None:
        assert f", row {exc.row}" in message, message
    if exc.column is not None:
        assert exc.column in COLUMN_NAMES, message
        assert f"column {exc.column}" in message, message
    if exc.value is not None and not (isinstance(exc.value, str) and not exc.value.strip()):
        assert "value " in message, message     # a blank cell is simply "is required"
    return message


def same_value(a, b):
    """Canonical values: equal, or both missing (None, NaN, pd.NA)."""
    missing_a = a is None or a is pd.NA or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b))
    return missing_a and missing_b or (not missing_a and not missing_b and a == b)


def check_record(record):
    """An accepted record holds only what the contract and the store can take."""
    assert set(record) == set(COLUMN_NAMES) | {"utc_offset_min"}
    assert isinstance(record["crossed_at"], int) and isinstance(record["utc_offset_min"], int)
    for name in COLUMN_NAMES[1:]:
        column, value = BY_NAME[name], record[name]
        if column.kind in TEXT_KINDS:
            if value is None:
                assert not column.required, name
                continue
            assert isinstance(value, str) and value == value.strip() and value, name
            assert "\x00" not in value, name
            value.encode("utf-8")  # no lone surrogate: the store could not keep it
            if column.kind == "enum":
                assert value in column.allowed, name
        elif name != "crossed_at":
            assert isinstance(value, float), name
            assert math.isnan(value) or math.isfinite(value), name


# --- 1. any bytes ------------------------------------------------------------------

def _splice(args):
    at, cut, insert = args
    at = min(at, len(VALID_BYTES))
    return VALID_BYTES[:at] + insert + VALID_BYTES[at + cut:]


def _csvish(parts):
    header, rows, newline, encoding = parts
    text = newline.join([",".join(header)] + [",".join(r) for r in rows]) + newline
    return text.encode(encoding, errors="replace")


STRUCTURE = [b'"', b",", b"\n", b"\r", b"\r\n", b"\x00", b"\xc3", b"\xff\xfe", b"\xef\xbb\xbf",
             b'""', "ë".encode(), b"\xe2\x82", b" ", b"\t"]
ANY_BYTES = st.one_of(
    st.binary(max_size=300),
    st.integers(0, len(VALID_BYTES)).map(lambda n: VALID_BYTES[:n]),          # truncated
    st.tuples(st.integers(0, len(VALID_BYTES)), st.integers(0, 12),          # spliced
              st.one_of(st.binary(max_size=6), st.sampled_from(STRUCTURE))).map(_splice),
    st.tuples(                                                                # CSV-like text
        st.lists(st.one_of(st.sampled_from(COLUMN_NAMES), st.sampled_from(['""', '"x', ""])),
                 max_size=24),
        st.lists(st.lists(st.one_of(st.sampled_from(TRICKY[:60]), FILE_TEXT), max_size=24),
                 max_size=4),
        st.sampled_from(["\n", "\r\n", "\r"]),
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1"]),
    ).map(_csvish),
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=200, **SETTINGS)
@example(VALID_BYTES.replace(b"\n", b"\r"))                        # old Mac line ends
@example(VALID_BYTES.replace(b"vehicle_make", b"plate_id", 1))     # a repeated column
@example(b"\xef\xbb\xbf" + VALID_BYTES)                            # a BOM
@example(b'"crossing\nid",' + VALID_BYTES)                         # a quoted newline in the header
@given(data=ANY_BYTES)
def test_any_bytes_read_as_a_log(fuzz_dir, data):
    path = fuzz_dir / "any.csv"
    path.write_bytes(data)
    try:
        result = read_log(path)
    except ContractError as exc:
        assert_one_line(exc, path)
        return
    frame = result.frame
    assert set(COLUMN_NAMES) <= set(frame.columns)
    assert frame["crossed_at"].dtype == "int64"
    assert len(frame) <= data.count(b"\n") + data.count(b"\r") + 1
    assert frame["crossing_id"].notna().all() and frame["crossing_id"].is_unique


# --- 2. one cell changed -----------------------------------------------------------

#: a changed cell may break a rule between columns: the error then names the other one
RELATED = {"direction": {"referral", "selection_probability", "inspected", "seizure",
                         "firearms_seized", "rounds_seized", "currency_seized_usd"},
           "inspected": {"seizure", "firearms_seized", "rounds_seized", "currency_seized_usd"},
           "seizure": {"firearms_seized", "rounds_seized", "currency_seized_usd"}}


@settings(max_examples=100, **SETTINGS)
@example(index=0, column="occupants", text="1_000")
@example(index=1, column="vehicle_make", text="F\x00rd")
@example(index=2, column="inspected", text="true")
@example(index=1, column="inspected", text="false")
@example(index=0, column="crossing_id", text=" b ")
@example(index=0, column="crossing_id", text="0\r")  # found by the fuzz: a bare CR
@example(index=1, column="vehicle_make", text="Fo\nrd")
@example(index=1, column="crossed_at", text="0000-01-01T00:00Z")  # found: year 0
@given(index=st.integers(0, 2), column=st.sampled_from(COLUMN_NAMES), text=CELL)
def test_one_changed_cell_is_named_by_row_and_column(fuzz_dir, index, column, text):
    rows = [dict(r) for r in BASE_ROWS]
    rows[index][column] = text
    path = fuzz_dir / "cell.csv"
    # CRLF rows: Python's csv writer then quotes a cell holding either line break, so
    # the one changed cell stays one cell (with "\n" rows a lone "\r" was written bare:
    # a truly cut row, which the reader rightly named by row only)
    raw(rows).to_csv(path, index=False, lineterminator="\r\n")
    try:
        result = read_log(path)
    except ContractError as exc:
        message = assert_one_line(exc, path)
        assert exc.column is not None, message
        others = [i for i, r in enumerate(BASE_ROWS) if i != index and r["crossing_id"] == text.strip()]
        if column == "crossing_id" and others and "repeated" in message:
            assert exc.row == max(index, others[0]) + 2, message
            return
        assert exc.row == index + 2, message
        assert exc.column == column or exc.column in RELATED.get(column, ()), message
        with pytest.raises(ContractError) as record_error:   # the service says the same
            parse_record(rows[index])
        assert record_error.value.column == exc.column
        return
    record = parse_record(rows[index])
    for name, value in record.items():
        assert same_value(value, result.frame[name].iloc[index]), (name, value)


@st.composite
def changed_rows(draw):
    """1-24 rows, each a base row with one cell changed (ids kept unique)."""
    out = []
    for k, (column, text) in enumerate(draw(st.lists(
            st.tuples(st.sampled_from(COLUMN_NAMES), CELL), min_size=1, max_size=24))):
        r = dict(BASE_ROWS[k % 3], crossing_id=f"r{k}")
        r[column] = text
        out.append(r)
    return out


@settings(max_examples=30, **SETTINGS)
@given(rows=changed_rows())
def test_frame_and_record_agree_cell_by_cell(rows):
    """The batch parse and the service's parse accept and refuse the same cells."""
    result = parse_frame(raw(rows), on_error="skip")
    reasons = dict(zip(result.rejected["row"], result.rejected["reason"]))
    accepted = iter(range(len(result.frame)))
    for k, r in enumerate(rows):
        reason = reasons.get(k + 2)
        try:
            record = parse_record(r)
        except ContractError as exc:
            assert reason is not None, (r, str(exc))
            assert reason.startswith(f"column {exc.column}: "), (reason, str(exc))
            continue
        if reason is not None:      # only the whole log sees a repeated id
            assert "repeated crossing_id" in reason, (reason, r)
            continue
        check_record(record)
        i = next(accepted)
        for name, value in record.items():
            assert same_value(value, result.frame[name].iloc[i]), (name, value, r)


# --- 3. the service's path: one JSON object -----------------------------------------

RECORDS = st.one_of(
    st.dictionaries(st.sampled_from(COLUMN_NAMES), JSON),
    st.dictionaries(st.sampled_from(COLUMN_NAMES), st.one_of(JSON, CELL))
    .map(lambda d: {**BASE_ROWS[0], **d}),
    st.dictionaries(st.sampled_from(COLUMN_NAMES), st.one_of(JSON, CELL), max_size=2)
    .map(lambda d: {**BASE_ROWS[2], **d}),
    JSON,
)


@settings(max_examples=1200, **SETTINGS)
@example(record={**BASE_ROWS[0], "crossing_id": ["a", "b"]})
@example(record={**BASE_ROWS[0], "plate_id": "p\ud800"})
@example(record={**BASE_ROWS[0], "occupants": "٣"})
@example(record={**BASE_ROWS[0], "occupants": 10 ** 5000})
@given(record=RECORDS)
def test_any_json_record_parses_or_names_the_field(record):
    try:
        parsed = parse_record(record)
    except ContractError as exc:
        message = assert_one_line(exc, "request")
        if isinstance(record, dict):
            assert exc.column is not None, message
            assert exc.column in record or exc.column in REQUIRED, message
        return
    check_record(parsed)


@settings(max_examples=600, **SETTINGS)
@example(name="crossed_at", value="5")
@given(name=st.sampled_from(COLUMN_NAMES), value=st.one_of(JSON, CELL))
def test_parse_value_takes_any_json_value(name, value):
    try:
        parsed = parse_value(name, value)
    except ContractError as exc:
        assert_one_line(exc, "request")
        assert exc.column == name
        return
    kind = BY_NAME[name].kind
    if kind == "timestamp":
        assert isinstance(parsed, int) or math.isnan(parsed)
    elif kind in TEXT_KINDS:
        assert parsed is None or isinstance(parsed, str)
    else:
        assert isinstance(parsed, float)


@settings(max_examples=600, **SETTINGS)
@given(text=st.one_of(TIMESTAMP_LIKE, CELL, JSON))
def test_parse_timestamp_takes_any_text(text):
    """A pair of ints, or ValueError: its documented way of refusing."""
    try:
        micros, offset = parse_timestamp(text)
    except ContractError:
        raise
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(micros, int) and isinstance(offset, int)
    assert -24 * 60 < offset < 24 * 60


# --- 4. valid logs round trip ---------------------------------------------------------

EPOCH = datetime(1970, 1, 1)
CLEAN_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                     max_size=10).map(str.strip)
#: identifiers as the contract takes them (no control or format character), in NFKC
IDENTIFIERS = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cf")), min_size=1,
                      max_size=10).map(str.strip).filter(lambda t: _identifier(t) is not None)


def _identifier(text):
    try:
        return identifier(text)
    except ValueError:
        return None


BOOLS = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "TRUE": 1.0, "False": 0.0,
         "1.0": 1.0, "0.0": 0.0}


def _optional(draw, strategy, empty=("", None)):
    return draw(st.one_of(st.just(empty), strategy))


@st.composite
def valid_row(draw, crossing_id):
    """(text cells, canonical values) of one random row that keeps every rule."""
    cells, want = {}, {}

    def put(name, text, value):
        cells[name], want[name] = text, value

    put("crossing_id", crossing_id, identifier(crossing_id))
    local = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)))
    digits = draw(st.integers(0, 6))
    micro = local.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits) if digits else 0
    local = local.replace(microsecond=micro)
    offset = draw(st.integers(-14 * 60, 14 * 60))
    text = local.strftime("%Y-%m-%d") + draw(st.sampled_from("T ")) + local.strftime("%H:%M")
    if digits or local.second or draw(st.booleans()):
        text += local.strftime(":%S") + (f".{micro:06d}"[:digits + 1] if digits else "")
    if offset == 0 and draw(st.booleans()):
        text += "Z"
    else:
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset), 60)
        text += f"{sign}{hours:02d}{draw(st.sampled_from([':', '']))}{minutes:02d}"
    delta = local - EPOCH - timedelta(minutes=offset)
    cells["crossed_at"] = text
    want["crossed_at"] = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    want["utc_offset_min"] = offset

    direction = draw(st.sampled_from(DIRECTIONS))
    put("direction", direction, direction)
    port = f"{draw(st.integers(0, 9999)):04d}"
    put("port_code", port, port)
    vehicle = draw(st.sampled_from(VEHICLE_CLASSES))
    put("vehicle_class", vehicle, vehicle)
    put("body_type", *_optional(draw, st.sampled_from(BODY_TYPES).map(lambda b: (b, b))))
    plate = draw(IDENTIFIERS)
    put("plate_id", plate, identifier(plate))
    put("plate_jurisdiction", *_optional(draw, st.one_of(st.just("UNK"), st.builds(
        "{}-{}".format, st.text("ABCMNSUXZ", min_size=2, max_size=2),
        st.text("ABCJNORSTX019", min_size=1, max_size=3))).map(lambda j: (j, j))))
    value = draw(CLEAN_TEXT)
    put("vehicle_make", value, value or None)
    carrier = draw(st.one_of(st.just(""), IDENTIFIERS))
    put("carrier_id", carrier, identifier(carrier) if carrier else None)

    def number(lo, hi=None):
        return st.integers(lo, hi if hi is not None else 10 ** 12).map(lambda n: (str(n), float(n)))

    amount = st.one_of(number(0), st.floats(0, 1e12).map(lambda x: (repr(x), x)))
    nan = ("", math.nan)
    # the plausible ranges: a model year up to the crossing's (UTC) year + 1
    year = (EPOCH + timedelta(microseconds=want["crossed_at"])).year
    put("vehicle_model_year", *_optional(draw, number(1900, year + 1), nan))
    put("registration_age_days", *_optional(draw, number(0, 36525), nan))
    put("occupants", *_optional(draw, number(1, 200), nan))
    put("trailer_empty", *_optional(draw, st.sampled_from(sorted(BOOLS.items())), nan))
    put("manifest_value_usd", *_optional(draw, amount, nan))
    if direction == "inbound":
        put("referral", *draw(st.sampled_from([("", None), ("none", "none")])))
        put("inspected", *draw(st.sampled_from([("", math.nan), ("false", 0.0), ("0", 0.0)])))
        for name in ("selection_probability", "seizure", "firearms_seized", "rounds_seized",
                     "currency_seized_usd"):
            put(name, *nan)
        return cells, want
    put("referral", *_optional(draw, st.sampled_from(REFERRALS).map(lambda r: (r, r))))
    if want["referral"] == "lookout":   # its probability is 1, written or not
        cells["selection_probability"], want["selection_probability"] = draw(
            st.sampled_from(["", "1", "1.0"])), 1.0
    else:
        put("selection_probability", *_optional(draw, st.floats(
            0, 1, exclude_min=True).map(lambda p: (repr(p), p)), nan))
    put("inspected", *_optional(draw, st.sampled_from(sorted(BOOLS.items())), nan))
    if want["inspected"] == 1.0:
        put("seizure", *_optional(draw, st.sampled_from(sorted(BOOLS.items())), nan))
    else:
        put("seizure", *nan)
    if want["inspected"] == 1.0 and want["seizure"] != 0.0:
        # the caps (docs/contract.md): 10,000 firearms, 10,000,000 rounds, $100M
        put("firearms_seized", *_optional(draw, number(0, 10_000), nan))
        put("rounds_seized", *_optional(draw, number(0, 10_000_000), nan))
        put("currency_seized_usd", *_optional(draw, st.one_of(number(0, 10 ** 8), st.floats(
            0, 1e8).map(lambda x: (repr(x), x))), nan))
    else:  # nothing seized without an inspection and a seizure: zero or empty
        for name in ("firearms_seized", "rounds_seized", "currency_seized_usd"):
            put(name, *draw(st.sampled_from([nan, ("0", 0.0)])))
    return cells, want


@st.composite
def valid_logs(draw):
    ids = draw(st.lists(IDENTIFIERS, min_size=1, max_size=6, unique_by=identifier))
    rows = [draw(valid_row(crossing_id)) for crossing_id in ids]
    columns = draw(st.permutations(COLUMN_NAMES))
    extra = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    return rows, list(columns) + (["lane"] if extra else []), newline, encoding


@settings(max_examples=40, **SETTINGS)
@given(log=valid_logs())
def test_valid_logs_round_trip_through_csv(fuzz_dir, log):
    rows, columns, newline, encoding = log
    frame = pd.DataFrame([cells for cells, _ in rows]).assign(lane="3")
    path = fuzz_dir / "valid.csv"
    # Python's csv writer quotes only the characters of its own line terminator: a
    # cell with another line break must be quoted by hand (QUOTE_ALL) to stay one cell
    breaks = frame.map(lambda v: "\r" in v or "\n" in v).to_numpy().any()
    frame[columns].to_csv(path, index=False, lineterminator=newline, encoding=encoding,
                          quoting=csv.QUOTE_ALL if breaks else csv.QUOTE_MINIMAL)
    result = read_log(path)
    assert result.ignored_columns == (("lane",) if "lane" in columns else ())
    assert len(result.frame) == len(rows)
    for i, (cells, want) in enumerate(rows):
        record = parse_record(cells)
        for name, value in want.items():
            got = result.frame[name].iloc[i]
            assert same_value(got, value), (name, cells.get(name), value, got)
            assert same_value(record[name], value), (name, cells.get(name), value)


# --- 5. the command line ----------------------------------------------------------------

@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture],
          **SETTINGS)
@example(data=VALID_BYTES[:-40])
@given(data=ANY_BYTES)
def test_cli_train_on_a_fuzzed_file_exits_2_in_one_line(runner, data):
    # runner (a CliRunner) keeps no state between invocations: sharing it across
    # examples is safe, hence the suppressed function_scoped_fixture check.
    with tempfile.TemporaryDirectory() as tmp:
        path, registry = Path(tmp) / "fuzzed.csv", Path(tmp) / "registry"
        path.write_bytes(data)
        result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(registry)])
        assert result.exit_code == 2, (result.output, result.exception)
        assert isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
        assert re.match(rf"error: {re.escape(str(path))}[:,]", errors[0]), errors[0]
        assert not (registry / "versions").exists() and not (registry / "active.json").exists()
