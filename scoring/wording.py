"""Counts and amounts in words, one way for every command, page and message.

Examples
--------
>>> plural(1, "seizure"), plural(12_000, "outbound crossing")
('1 seizure', '12,000 outbound crossings')
>>> plural(2, "origin", bare=True), plural(3, "repeat", "repeats of it")
('origins', '3 repeats of it')
>>> money(12_000.5), money(12_000), money(0.25)
('$12,000.50', '$12,000', '$0.25')
"""
from __future__ import annotations

import math

#: a figure resting on fewer labelled seizures than this is flagged unstable
FEW_SEIZURES = 30

def plural(n, word, many=None, bare=False):
    """``n`` and ``word``, the word in the plural unless ``n`` is 1: "1 seizure",
    "2 seizures", "12,000 rows" (thousands separated; a whole float as an integer).

    ``many`` is the plural where it is not the regular one (``word`` plus "s", "es"
    after s, x, ch or sh, "ies" for a "y" after a consonant); ``bare`` gives the word
    alone, without ``n``.
    """
    if many is None:
        if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
            many = word[:-1] + "ies"
        elif word.endswith(("s", "x", "ch", "sh")):
            many = word + "es"
        else:
            many = word + "s"
    text = word if n == 1 else many
    if bare:
        return text
    count = f"{int(n):,}" if float(n).is_integer() else f"{n:,}"
    return f"{count} {text}"


def money(amount, symbol="$"):
    """An amount of money, in whole dollars where it is whole, else to the cent:
    "$12,000", "$12,000.50" (never "$12,000.5"); NaN as "-"."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "-"
    cents = round(float(amount) * 100)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return (f"{sign}{symbol}{cents // 100:,}" if cents % 100 == 0
            else f"{sign}{symbol}{cents / 100:,.2f}")


def number(value, fmt="{:.2f}", missing="-"):
    """A figure for a table, or ``missing`` where it is not defined (NaN, None): never
    "nan" on a page or a terminal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return fmt.format(value)
