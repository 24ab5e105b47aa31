"""Tables the commands write: Parquet, or CSV byte for byte as pandas writes it, faster,
but for booleans, written ``true``/``false`` as the crossing-log contract spells them,
and for text cells a spreadsheet would take for a formula (:func:`neutralise`).

pandas' ``to_csv`` turns every cell into a Python string and writes row by row (2.8 s
for the 500k rows of a 1M-row log's scores); :func:`write_csv` formats each column at
once (numbers as ``astype(str)``, as pandas does; booleans ``true``/``false``; missing
cells empty) and quotes a cell as Python's csv module does (minimal quoting: only a
cell holding a comma, a double quote or a line break, its quotes doubled). Columns of
any other type go to pandas.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.private import create_private, open_private


def write_table(frame, out):
    """Write a frame as Parquet when ``out`` ends in .parquet, else as CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    create_private(out)   # rows of crossings: the owner's alone, then written over
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        write_csv(frame, out)


def write_rejects(rejects, path, folder):
    """Write the rows rejected from the log at ``path`` (with their reasons) to
    ``folder``/<name>.rejects.csv, and return that file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    side = folder / (Path(path).name + ".rejects.csv")
    create_private(side)
    _neutralised_text(rejects).to_csv(side, index=False)
    return side


#: what a spreadsheet reads as the start of a formula (OWASP's CSV injection list)
FORMULA_START = "=+-@\t\r"
_FORMULA = f"^[{re.escape(FORMULA_START)}]"
#: a plain decimal number (as the contract reads one): "-3.5" stays a number
_PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def neutralise(cells):
    """Text cells (an arrow string array) with a single quote before each one that
    begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return and is not a plain
    number, so that a spreadsheet shows ``'=HYPERLINK(...)`` as text rather than run it;
    ``-3.5`` stays a number.

    >>> neutralise(pa.array(["=1+2", "-3.5", "@x", "P1"])).to_pylist()
    ["'=1+2", '-3.5', "'@x", 'P1']
    """
    risky = pc.and_(pc.match_substring_regex(cells, _FORMULA),
                    pc.invert(pc.match_substring_regex(cells, _PLAIN_NUMBER)))
    if not pc.any(risky).as_py():
        return cells
    return pc.if_else(risky, pc.binary_join_element_wise(
        pa.scalar("'", type=cells.type), cells, pa.scalar("", type=cells.type)), cells)


def _neutralised_text(frame):
    """``frame`` with its text cells neutralised (:func:`neutralise`), for pandas' writer."""
    out = frame.copy(deep=False)
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if column.dtype.kind == "O" or isinstance(column.dtype, pd.StringDtype):
            values = column.to_numpy(dtype=object)
            text = np.array([isinstance(v, str) for v in values], dtype=bool)
            if text.any():
                cells = neutralise(pa.array(values[text], type=pa.string())).to_pylist()
                values = values.copy()
                values[text] = cells
                out.isetitem(i, pd.Series(values, index=out.index, dtype=object))
    return out


def write_csv(frame, path):
    """``frame.to_csv(path, index=False)``, the same bytes but for booleans (``true`` and
    ``false``, not Python's ``True`` and ``False``) and for text cells a spreadsheet would
    run as a formula (:func:`neutralise`; numbers and number columns as they are).

    Examples
    --------
    >>> write_csv(pd.DataFrame({"a": [1.5, None], "b": ["x,y", None]}), path)  # doctest: +SKIP
    """
    cells = [_cells(frame[name]) for name in frame.columns]
    cells = [c if c is None else c.cast(pa.large_string()) for c in cells]
    if any(c is None for c in cells) or frame.columns.duplicated().any() or not len(frame):
        flags = [i for i, dtype in enumerate(frame.dtypes) if dtype.kind == "b"]
        frame = _neutralised_text(frame)
        for i in flags:
            frame.isetitem(i, np.where(frame.iloc[:, i].to_numpy(), "true", "false"))
        create_private(path)
        frame.to_csv(path, index=False)
        return
    text = [frame.dtypes.iloc[i].kind == "O" or isinstance(frame.dtypes.iloc[i], pd.StringDtype)
            for i in range(len(cells))]
    cells = [neutralise(c) if is_text else c for c, is_text in zip(cells, text)]
    header = ",".join(_quote(pa.array([str(name) for name in frame.columns],
                                      type=pa.large_string())).to_pylist())
    # each line ends in "\n" (joined with an empty last cell), so the lines' character
    # data, end to end, is the file's body
    lines = pc.binary_join_element_wise(*[_quote(c) for c in cells], _large(","))
    if len(cells) == 1:   # a line of one empty cell is written "" (else it reads as no row)
        lines = pc.if_else(pc.equal(lines, ""), _large('""'), lines)
    lines = pc.binary_join_element_wise(lines, _large(""), _large("\n"))
    with open_private(path, "wb") as handle:
        handle.write((header + "\n").encode("utf-8"))
        for chunk in (lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]):
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
            start, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
            handle.write(memoryview(chunk.buffers()[2])[start:end])


def _cells(column):
    """A column's cells as pandas writes them (an arrow string array), or None for a type
    left to pandas."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        return pc.fill_null(column.array.__arrow_array__(), "")
    values = column.to_numpy()
    kind = values.dtype.kind
    if kind == "b":
        return pa.array(np.where(values, "true", "false"), type=pa.string())
    if kind in "iu":
        return pa.array(values.astype(str), type=pa.string())
    if kind == "f":  # each distinct value (by its bits: 0.0 and -0.0 apart) formatted once
        missing = np.isnan(values)
        codes, distinct = pd.factorize(np.where(missing, 0.0, values).view(np.int64))
        text = pa.array(_float_text(np.asarray(distinct).view(np.float64)), type=pa.string())
        text = text.take(pa.array(codes))
        return pc.if_else(pa.array(missing), "", text) if missing.any() else text
    if kind == "O" or isinstance(column.dtype, pd.StringDtype):
        objects = column.to_numpy(dtype=object)
        if not all(isinstance(v, str) for v in objects[pd.notna(objects)][:1000]):
            return None
        try:
            return pc.fill_null(pa.array(objects, type=pa.string(), from_pandas=True), "")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None  # not text after all (numbers, mixed): pandas formats those
    return None


def _float_text(x):
    """``x.astype(str)`` (Python's repr: the shortest digits that read back as the same
    float), with arrow's cast for the values where it writes the same text, four to
    five times faster: not whole, and from 1e-4 to 1e9 in size (below, Python switches
    to an exponent and arrow does not; whole numbers arrow writes without ".0")."""
    size = np.abs(x)
    same = (size >= 1e-4) & (size < 1e9) & (x != np.floor(x))
    if not same.any():
        return x.astype(str)
    text = np.empty(len(x), dtype=object)
    text[same] = pc.cast(pa.array(x[same]), pa.string()).to_numpy(zero_copy_only=False)
    text[~same] = x[~same].astype(str)
    return text


def _quote(cells):
    """Cells quoted where they must be, their double quotes doubled."""
    needs = pc.match_substring_regex(cells, _needs_quotes())
    # a cell's quotes doubled; when no cell holds one (one scan of the character data),
    # there is nothing to double
    inner = pc.replace_substring(cells, '"', '""') if _holds(cells, b'"') else cells
    quoted = pc.binary_join_element_wise(_large('"'), inner, _large('"'), _large(""))
    return pc.if_else(needs, quoted, cells)


def _holds(cells, byte):
    """Whether some cell of an arrow string array holds the ASCII character ``byte``."""
    for chunk in (cells.chunks if isinstance(cells, pa.ChunkedArray) else [cells]):
        data = chunk.buffers()[2]
        if data is not None and (np.frombuffer(data, dtype=np.uint8) == ord(byte)).any():
            return True
    return False


def _needs_quotes():
    """Which characters make Python's csv (QUOTE_MINIMAL, as pandas calls it) quote a cell:
    the delimiter, the quote, the line terminator; a lone carriage return only in some
    Python versions, so asked of the csv module itself."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["\r", ""])
    return r'[,"\n\r]' if buffer.getvalue().startswith('"') else r'[,"\n]'


def _large(text):
    return pa.scalar(text, type=pa.large_string())

