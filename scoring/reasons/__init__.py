"""Reasons in an officer's words, from the model's own additive contributions.

Features are grouped by what an officer would recognise ("left 1.8 h after
entering at Laredo" covers both the time since entry and the other-port flag).
A group's weight is the sum of its features' contributions to the raw score;
the reasons are the groups that raised the score most, worded from the
crossing's own values.

A factor that holds for every crossing at the port (the port itself) is no
reason: it still moves the score, but never takes one of the three places.
A referred crossing gives its weakest of three places to a neutral "selected
for inspection" (one to three in all), whatever picked it (lookout, random share or model), so a referral
never looks like a mistake and never says how it was picked.

One module per step: :mod:`~scoring.reasons.wordings` (each group's wording and
what it reads), :mod:`~scoring.reasons.ranking` (the groups that raised a score
most, one crossing's reasons, a referral's) and :mod:`~scoring.reasons.lines`
(a batch's reasons, each distinct input worded once).
"""
from scoring.reasons.lines import reason_lines
from scoring.reasons.ranking import (NOTHING_STANDS_OUT, SELECTED, explain, group_matrix,
                                     top_groups, with_selection)
from scoring.reasons.wordings import GROUPS, READS, WEEKDAYS, port_name, port_names

__all__ = ["GROUPS", "NOTHING_STANDS_OUT", "READS", "SELECTED", "WEEKDAYS", "explain",
           "group_matrix", "port_name", "port_names", "reason_lines", "top_groups",
           "with_selection"]
