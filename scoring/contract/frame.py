"""A whole log at once: the execution of the contract for training and batch scoring.

:func:`parse_frame` checks a frame of text cells a column at a time, each column's
kind by its :data:`~scoring.contract.kinds.KINDS` entry's ``many`` (as one crossing's
by its ``one``), and returns the canonical form of :mod:`scoring.contract.record`, in
columns: ``crossed_at`` and ``utc_offset_min`` as int64, NaN for an unknown text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from scoring.contract.arrow import arrow_text, stripped
from scoring.contract.columns import (BY_NAME, CERTAIN_REFERRALS, COLUMNS, REQUIRED,
                                      ContractError, show_value)
from scoring.contract.kinds import KINDS
from scoring.contract.rules import frame_problems
from scoring.paths import extra_ports_file
from scoring.ports import PortTableError, known_ports as port_table


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


def parse_frame(raw, *, source="<frame>", on_error="raise", first_row=2, known_ports=None):
    """Validate a frame of text cells and return a :class:`ReadResult`.

    ``first_row`` is the row number reported for the frame's first row (2 for a
    CSV file, whose row 1 is the header); ``known_ports`` as in
    :func:`~scoring.contract.files.read_log`.
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
        text = (stripped(raw[column.name].astype(str)) if column.name in raw.columns
                else pd.Series([""] * n, dtype=str))
        empty = (text == "").to_numpy()
        if column.required:
            reject(empty, column.name, lambda v: "is required")
        values, faults = KINDS[column.kind].many(column, text, empty)
        for bad, words in faults:
            reject(bad & ~empty, column.name,
                   lambda v, words=words: f"value {show_value(v)} {words(v)}")
        out.update(values)

    frame = pd.DataFrame(out)
    frame_problems(frame, reject)
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
        text = arrow_text(ids)
        if pc.all(pc.less(text.slice(0, len(text) - 1), text.slice(1))).as_py():
            return np.zeros(len(ids), dtype=bool)
    return ids.duplicated().to_numpy()


def _unknown_ports(codes, known=None):
    """{code: rows} of the codes the port table lacks, by code."""
    if known is None:
        try:
            known = port_table(extra_ports_file())
        except PortTableError as exc:  # the commands' one line and exit 2
            raise ContractError(str(exc)) from None
    unknown = codes[~codes.isin(list(known))].value_counts()
    return {str(code): int(n) for code, n in sorted(unknown.items())}
