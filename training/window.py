"""The window a model is graded on: which outbound rows, and their features.

:func:`graded_window` picks the rows from the model's manifest and never reaches back
into the rows its trees grew on (grading those would overstate); :func:`window_rows`
computes their features once, so that several models can be scored on the same
:class:`Window`. Grading it is :func:`training.grade.evaluate_window`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.features import FEATURES, feature_frame


class EmptyWindow(ValueError):
    """No outbound row to grade in the window; says which window."""


@dataclass(frozen=True)
class Window:
    """The outbound rows of a window, with their features, and why these rows.

    ``outbound`` (shape (n, contract columns)) and ``features`` (shape (n,
    len(FEATURES) + 1)) share their index; ``warning`` is :func:`graded_window`'s.
    """

    outbound: pd.DataFrame
    features: pd.DataFrame
    why: str = ""
    warning: str | None = None

    @property
    def X(self):
        """The model inputs, columns ``FEATURES``."""
        return self.features[list(FEATURES)]

    @property
    def start(self):
        """The first row's ``crossed_at`` (UTC µs)."""
        return int(self.outbound["crossed_at"].min())

    @property
    def end(self):
        """The last row's ``crossed_at`` (UTC µs)."""
        return int(self.outbound["crossed_at"].max())

    def score(self, model):
        """``model``'s calibrated probabilities of the rows, shape (n,)."""
        return model.predict_proba(self.X)[:, 1]


def window_rows(frame, since=None, manifest=None, *, allow_seen=False):
    """The outbound rows of ``frame`` to grade, with their features.

    Parameters
    ----------
    frame : DataFrame
        Canonical crossing log; every row is history.
    since : int, optional
        UTC µs: the window starts here.
    manifest : dict, optional
        With it, the rows are :func:`graded_window`'s (``since`` and ``allow_seen``
        passed on); without it, every outbound row from ``since`` on.

    Returns
    -------
    Window

    Raises
    ------
    NothingUnseen
        From :func:`graded_window`.
    EmptyWindow
        No outbound row in the window.

    Examples
    --------
    >>> rows = window_rows(frame, manifest=manifest)      # doctest: +SKIP
    >>> scores = rows.score(model)                         # doctest: +SKIP
    """
    outbound = (frame["direction"] == "outbound").to_numpy()
    times = frame["crossed_at"].to_numpy(np.int64)
    warning = None
    if manifest is not None:
        graded, why, warning = graded_window(manifest, times[outbound], since, allow_seen)
        query = np.zeros(len(frame), dtype=bool)
        query[np.flatnonzero(outbound)[graded]] = True
    else:
        why = "from --since" if since is not None else "every outbound row"
        query = outbound & (times >= since) if since is not None else outbound
    if not query.any():
        raise EmptyWindow(f"no outbound rows to evaluate in the window ({why})")
    features = feature_frame(frame, query)
    return Window(frame.loc[features.index], features, why, warning)


def _micros(iso):
    return int(pd.Timestamp(iso).value // 1000)


class NothingUnseen(ValueError):
    """The log holds no outbound row the model's trees never saw; says why and what to
    run instead."""


def first_unseen(windows):
    """The first instant (UTC µs) from which no labelled row grew the model's trees, or
    None when the manifest does not say.

    A cross-fitted model's trees grew on every labelled row to the end of its log
    (``blocks_from`` names its blocks); a holdout model's only on its fit window, up to
    ``calibrate_from``.
    """
    if windows.get("blocks_from") and windows.get("end"):
        return _micros(windows["end"]) + 1
    if windows.get("calibrate_from"):
        return _micros(windows["calibrate_from"])
    return None


def graded_window(manifest, times, since=None, allow_seen=False):
    """Which outbound rows to grade a model on, and why.

    Without ``since``: the rows after the model's training data when the log reaches
    past it, else the model's own held-out window (``validate_from``) when its trees
    never saw it. A window never reaches back into the rows the trees grew on: a
    ``since`` that does is moved to the first row after them, with a warning, and a
    cross-fitted model (whose trees grew on every labelled row of its log) on a log
    that ends with its training data raises :class:`NothingUnseen`, which points to
    ``southbound backtest``.

    Parameters
    ----------
    manifest : dict
    times : array of int
        ``crossed_at`` (UTC µs) of the outbound rows.
    since : int, optional
        UTC µs given by the user.
    allow_seen : bool
        The report's reading: grade the cross-fitted model's newest block, or ``since``
        as given, with a warning that the figures overstate, rather than refuse.

    Returns
    -------
    mask : array of bool
    description : str
    warning : str or None
        Set when ``since`` was moved, or the window overlaps the calibration window (or
        with ``allow_seen`` the rows the trees grew on).
    """
    windows = (manifest.get("data") or {}).get("windows") or {}
    times = np.asarray(times, dtype=np.int64)
    unseen = None if allow_seen else first_unseen(windows)
    moved = None
    if since is not None:
        start, why = since, "from --since"
        if unseen is not None and since < unseen:
            start, moved = unseen, since
    elif windows.get("end") and (times > _micros(windows["end"])).any():
        start = _micros(windows["end"]) + 1
        why = "the rows after the model's training data"
    elif windows.get("validate_from") and windows.get("blocks_from"):
        start = _micros(windows["validate_from"])
        why = ("the model's newest time block (the log does not reach past its training "
               "data)")
    elif windows.get("validate_from"):
        start = _micros(windows["validate_from"])
        why = "the model's own held-out window (the log does not reach past its training data)"
    else:
        start, why = None, "every outbound row (the manifest names no training window)"
    if unseen is not None and (start is None or start < unseen):
        start = unseen
    mask = times >= start if start is not None else np.ones(len(times), dtype=bool)
    if unseen is not None and len(times) and not mask.any():
        grown = ("every labelled row of its log" if windows.get("blocks_from")
                 else "its fit window's labelled rows")
        raise NothingUnseen(
            f"no outbound row to grade: the log ends {_iso_text(int(times.max()))}, and the "
            f"model's trees grew on {grown} up to {_iso_text(unseen - 1)}, so grading any "
            "of them would overstate; grade the pipeline on this log with `southbound "
            "backtest` (each origin's model is trained on the rows before it only), or "
            "evaluate on a log that reaches past the training data")
    warning = None
    if moved is not None:
        warning = (f"--since {_iso_text(moved)} reaches into the rows the model's trees grew "
                   f"on (to {_iso_text(unseen - 1)}): graded from the first row after them")
        if windows.get("blocks_from"):
            why = "the rows after the model's training data (--since reached into it)"
    if mask.any() and allow_seen and windows.get("blocks_from") and windows.get("end"):
        # cross-fitted: the served model's trees grew on every labelled row to the end
        first = int(times[mask].min())
        if first <= _micros(windows["end"]) and times[mask].max() >= _micros(windows["start"]):
            warning = (f"the graded window overlaps the model's training data "
                       f"({windows['start']} to {windows['end']}): its trees were grown on "
                       "every labelled row there, so the figures overstate; its out-of-fold "
                       "validation figures are in models show")
    elif mask.any() and windows.get("calibrate_from") and windows.get("start"):
        first = int(times[mask].min())
        if first < _micros(windows["calibrate_from"]) and times[mask].max() >= _micros(windows["start"]):
            warning = (f"the graded window overlaps the model's fit window ({windows['start']} "
                       f"to {windows['calibrate_from']}): its trees were fitted on those rows, "
                       "so the figures overstate")
        elif windows.get("validate_from") and first < _micros(windows["validate_from"]):
            warning = ((warning + "; " if warning else "")
                       + f"the graded window overlaps the model's calibration window (to "
                       f"{windows['validate_from']}): the figures may overstate a little")
    return mask, why, warning


def _iso_text(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
