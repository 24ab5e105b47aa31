"""Text columns as arrow holds them: the helpers of a whole log's fast paths.

A log read from a file is a frame of arrow-backed text; these look at its character
data once instead of calling Python per cell, and fall back to pandas when arrow does
not hold a column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(text):
    """A text Series as an arrow array (no copy when arrow holds it already)."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.array(text.array)
    return pa.array(text.to_numpy(dtype=object), type=pa.string())


def char_data(text):
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


def may_hold(text, byte):
    """False when no cell of ``text`` can hold the character ``byte`` (one ASCII byte):
    arrow's character data, all cells' bytes end to end, lacks it (one scan, not a
    search per cell)."""
    data = char_data(text)
    return data is None or any((d == ord(byte)).any() for d in data)


def stripped(text):
    """``text.str.strip()``; the column itself when no cell can have anything to strip:
    all its characters are printable ASCII other than the space (one scan of arrow's
    character data, not a trim of every cell)."""
    data = char_data(text)
    if data is not None and not any(len(d) and (d.min() < 0x21 or d.max() > 0x7E)
                                    for d in data):
        return text
    return text.str.strip()


def ascii_digits(text, empty):
    """Where each cell is ASCII digits only (matches ``[0-9]+``), when every non-empty
    cell is: the exact answer of the number and port patterns for such a column, at a
    fraction of a regular expression's cost. None when some cell is something else
    (the caller's pattern decides then)."""
    digits = pc.ascii_is_decimal(arrow_text(text))
    digits = np.asarray(pc.fill_null(digits, False).to_numpy(zero_copy_only=False), dtype=bool)
    return digits if (digits | empty).all() else None


def to_float(text, empty):
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
