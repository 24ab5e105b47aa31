"""A crossing log's file: CSV (UTF-8) or Parquet read into the text cells that
:func:`~scoring.contract.frame.parse_frame` checks, each fault of the file itself
(not UTF-8, a malformed row, an unreadable Parquet file) named by file and row.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring.contract.columns import BY_NAME, ContractError
from scoring.contract.frame import parse_frame


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
