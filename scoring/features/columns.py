"""Log columns as the feature passes read them: numpy and arrow arrays, in one order.

Shared by the context and the history passes, in-process and on Dask.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def objects(values, func=None):
    """A column as a numpy object array (NaN where missing), optionally ``func`` of each
    value, through its distinct values: each converted, and ``func`` called, once."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:-1] = np.asarray(distinct, dtype=object)
    if func is not None:
        table[:-1] = [func(v) for v in table[:-1]]
    table[-1] = np.nan
    return table[codes]


def text(column, objects_of=None):
    """A text column for a feature frame: arrow's own array when the log holds it as the
    frame would hold an object array of it (pandas' ``str``: arrow, NaN for missing;
    made from objects it costs a conversion one string at a time), else ``objects_of``
    or :func:`objects` of it."""
    dtype = column.dtype
    if (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
            and dtype.na_value is np.nan):
        return column.array
    return objects(column) if objects_of is None else objects_of


def time_order(frame):
    """Positions of the frame's rows in the one canonical order, time then crossing_id,
    so that ties resolve the same way online (arrow's stable sort; ids compare as
    UTF-8 bytes, which is their code points' order)."""
    ids = frame["crossing_id"]
    table = pa.table({"t": frame["crossed_at"].to_numpy(np.int64),
                      "id": arrow_text(ids)})
    return pc.sort_indices(table, sort_keys=[("t", "ascending"),
                                             ("id", "ascending")]).to_numpy()


def arrow_text(values):
    """A text column as an arrow array (no copy when arrow holds it already)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return pa.array(values.array)
    return pa.array(values.to_numpy(dtype=str), type=pa.string())


def column_equals(values, text):
    """``values == text`` as a numpy bool array (missing: False)."""
    return (values == text).fillna(False).to_numpy(dtype=bool)


def entity_codes(values):
    """An int64 code per row of a key column (equal keys, equal codes), and where it is
    present."""
    has = values.notna().to_numpy()
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), has
