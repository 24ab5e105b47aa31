"""Which reasons a crossing gets: contributions summed by group, the groups that
raised the score most, and the rule of a referred crossing's reasons.

Examples
--------
>>> groups = top_groups(contributions, group_matrix(model.features_))  # doctest: +SKIP
>>> explain(features, groups[0])                                        # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from scoring.reasons.wordings import GROUPS

NOTHING_STANDS_OUT = "no risk factor raised the score"
SELECTED = {"factor": "selection", "text": "selected for inspection"}


def group_matrix(features):
    """0/1 matrix, shape (len(features), len(GROUPS)), that sums contributions by group.

    The column of a group that is never a reason (worded None) stays 0, so it never
    rises and :func:`top_groups` never picks it.
    """
    index = {name: i for i, name in enumerate(features)}
    matrix = np.zeros((len(features), len(GROUPS)))
    for g, (_, members, wording) in enumerate(GROUPS):
        if wording is None:
            continue
        for name in members:
            if name in index:
                matrix[index[name], g] = 1.0
    missing = set(features) - {m for _, members, _ in GROUPS for m in members}
    if missing:
        raise ValueError(f"features without a reason group: {sorted(missing)}")
    return matrix


def top_groups(contributions, matrix, top=3):
    """Indices of the ``top`` groups that raised each score most (-1 where fewer rose).

    Parameters
    ----------
    contributions : array, shape (n, n_features)
    matrix : array from :func:`group_matrix`

    Returns
    -------
    array of int, shape (n, top)
    """
    if np.ndim(contributions) == 1:  # one crossing (the service): plain 1-d numpy
        grouped = contributions @ matrix
        order = np.argsort(-grouped, kind="stable")[:top]
        return np.where(grouped[order] > 0, order, -1)[None, :]
    grouped = np.atleast_2d(contributions) @ matrix
    if np.isfinite(grouped).all() and top < grouped.shape[1]:
        # the stable sort's first ``top``, one smallest at a time (first among equals)
        rest = -grouped
        order = np.empty((len(grouped), top), dtype=np.int64)
        rows = np.arange(len(grouped))
        for k in range(top):
            order[:, k] = np.argmin(rest, axis=1)
            rest[rows, order[:, k]] = np.inf
    else:
        order = np.argsort(-grouped, axis=1, kind="stable")[:, :top]
    positive = np.take_along_axis(grouped, order, axis=1) > 0
    return np.where(positive, order, -1)


def explain(features, groups):
    """Reasons in words for one crossing.

    Parameters
    ----------
    features : mapping
        The crossing's feature values (before encoding), incl. ``plate_last_inbound_port``.
    groups : sequence of int
        From :func:`top_groups`.

    Returns
    -------
    list of dict
        ``{"factor": group name, "text": wording}``, strongest first; a crossing
        whose score no factor raised gets one entry saying so.
    """
    return _found([(g, GROUPS[g][2](features)) for g in groups if g >= 0])


def _found(worded):
    """:func:`explain`'s list from (group, text) pairs, strongest first."""
    reasons = [{"factor": GROUPS[g][0], "text": text} for g, text in worded]
    return reasons or [{"factor": "none", "text": NOTHING_STANDS_OUT}]


def with_selection(reasons):
    """A referred crossing's reasons: its two strongest, then :data:`SELECTED`.

    Of three reasons the weakest gives its place; fewer keep theirs, and "nothing
    raised the score" never stands beside a referral.

    Parameters
    ----------
    reasons : list of dict
        From :func:`explain`, strongest first.

    Returns
    -------
    list of dict
        The two strongest factors (none when nothing raised the score), then
        :data:`SELECTED`: one to three reasons, the same for every kind of pick.

    >>> with_selection([{"factor": "none", "text": NOTHING_STANDS_OUT}])
    [{'factor': 'selection', 'text': 'selected for inspection'}]
    """
    return [r for r in reasons if r["factor"] != "none"][:2] + [dict(SELECTED)]
