"""Reasons in words of a whole batch at once: the same wordings and the same rule as
one crossing's (:mod:`scoring.reasons.ranking`), called once per distinct input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.reasons.ranking import _found, with_selection
from scoring.reasons.wordings import _PINNED_NAMES, GROUPS, READS, port_names


def _shown(reasons, referred):
    """The texts a crossing shows: a referred crossing's with :func:`with_selection`."""
    return [r["text"] for r in (with_selection(reasons) if referred else reasons)]


def reason_lines(values, groups, refer):
    """Reasons in words of every crossing of a batch, as batch scoring writes them: the
    texts of :func:`~scoring.reasons.ranking.explain` (a referred crossing's with
    :func:`~scoring.reasons.ranking.with_selection`) joined by "; ".

    The same wordings and the same rule as one crossing's, called once per distinct
    input: a wording once per distinct combination of the values it reads
    (:data:`READS`; floats told apart by their bits), the rule once per shape of
    line (which places hold a reason, referred or not) on stand-ins for the texts.

    Parameters
    ----------
    values : DataFrame or mapping
        Column name to a Series or an array of shape (n,): at least every name in
        :data:`READS`.
    groups : array of int, shape (n, top)
        From :func:`~scoring.reasons.ranking.top_groups`.
    refer : array of bool, shape (n,)

    Returns
    -------
    array of str (object), shape (n,)

    Examples
    --------
    >>> reason_lines(feats, top_groups(contributions, matrix), refer)  # doctest: +SKIP
    """
    pinned = _PINNED_NAMES.set(port_names())
    try:
        return _reason_lines(values, np.asarray(groups), refer)
    finally:
        _PINNED_NAMES.reset(pinned)


def _reason_lines(values, groups, refer):
    n, top = groups.shape
    if not n:
        return np.empty(0, dtype=object)
    texts = []                                   # every distinct text, any group's
    text_of = np.full((n, top), -1, dtype=np.int64)
    # the (row, place) cells of each group, from one sort of all of them
    flat = groups.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(GROUPS) + 1))
    for g, (name, _, wording) in enumerate(GROUPS):
        rows, places = np.divmod(order[bounds[g]:bounds[g + 1]], top)  # one place a row
        if not len(rows):
            continue
        reads = READS[name]
        code, first = _distinct([_take(values[c], rows) for c in reads])
        picked = {c: _take(values[c], rows[first]).tolist() for c in reads}
        text_of[rows, places] = len(texts) + code
        texts.extend(wording(dict(zip(reads, one))) for one in zip(*picked.values()))
    referred = np.asarray(refer, dtype=bool)
    shape, first = _distinct([text_of[:, k] >= 0 for k in range(top)] + [referred])
    shown = []
    for i in first:
        # the rule (explain, with_selection) once per shape of line, on stand-ins for
        # the texts: a stand-in is its place, any other text is the rule's own
        places = [k for k in range(top) if text_of[i, k] >= 0]
        stand_ins = {f"place {k}": k for k in places}
        shown.append([stand_ins.get(text, text) for text in _shown(
            _found([(groups[i, k], f"place {k}") for k in places]), bool(referred[i]))])
    # each line's texts by their number in one table (the wordings', then the rule's
    # own), -1 where a line has fewer; then joined by "; " in arrow, all lines at once
    own = list(dict.fromkeys(t for line in shown for t in line if isinstance(t, str)))
    parts = np.full((n, max(map(len, shown))), -1, dtype=np.int64)
    for s, line in enumerate(shown):
        rows = np.flatnonzero(shape == s)
        for j, item in enumerate(line):
            parts[rows, j] = (text_of[rows, item] if not isinstance(item, str)
                              else len(texts) + own.index(item))
    table = pa.array(texts + own, type=pa.large_string())
    columns = [table.take(pa.array(parts[:, j], mask=parts[:, j] < 0))
               for j in range(parts.shape[1])]
    lines = (columns[0] if len(columns) == 1 else
             pc.binary_join_element_wise(*columns, pa.scalar("; ", pa.large_string()),
                                         null_handling="skip"))
    return np.asarray(lines.to_numpy(zero_copy_only=False), dtype=object)


def _take(column, rows):
    """``column[rows]``, of an array or a Series (arrow text stays arrow)."""
    if isinstance(column, pd.Series):
        return column.iloc[rows]
    return np.asarray(column)[rows]


def _distinct(columns):
    """Codes of the distinct rows of ``columns`` (arrays of one length), 0..m-1 in order
    of first appearance, and each code's first row. Floats are compared by their bits
    (0.0 and -0.0 apart; any NaN of a column alike); None and NaN of an object column
    alike (the wordings treat them alike)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        if not isinstance(column, pd.Series) or column.dtype.kind == "f":
            column = np.asarray(column)
        if column.dtype.kind == "f":
            column = np.where(np.isnan(column), np.nan, column).view(np.int64)
        codes, uniques = pd.factorize(column)
        key, _ = pd.factorize(key * (len(uniques) + 1) + (codes + 1))
    _, first = np.unique(key, return_index=True)
    return key, first
