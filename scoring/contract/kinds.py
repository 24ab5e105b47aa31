"""Each kind of column checked, declared once with its two executions side by side.

:data:`KINDS` maps a :class:`~scoring.contract.columns.Column`'s ``kind`` to a
:class:`Kind`, whose ``one`` judges one value (a crossing sent to the service) and
whose ``many`` judges a column of a whole log (training, batch scoring). Both take the
cells stripped, and a test holds them to the same answer cell by cell; the log's
execution keeps arrow's fast paths (:mod:`scoring.contract.arrow`).
"""
from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import pyarrow.compute as pc

from scoring.contract.arrow import arrow_text, ascii_digits, char_data, may_hold, to_float
from scoring.contract.columns import expects
from scoring.contract.timestamps import parse_timestamp, parse_timestamps, timestamp_fault

#: what a number may look like (float() alone would also take "1_000", "٣" or " inf")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "1.0"})
_FALSE = frozenset({"false", "0", "0.0"})


def check_text(text):
    """Free text must be storable: no NUL (PostgreSQL refuses it), valid Unicode.

    Raises ValueError saying which.
    """
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (it has a lone surrogate)") from None


#: what no identifier may hold: control characters (Cc: NUL, tab, ...) and format
#: characters (Cf: zero-width spaces and joiners, bidi marks and overrides, ...)
REFUSED_CATEGORIES = {"Cc": "control", "Cf": "format"}


def identifier(text):
    """An identifier as the contract keeps it: ``text`` in Unicode NFKC, case kept.

    The same id must be the same string wherever it comes from (a full-width ``ＰＬＯＯＫ１``
    is ``PLOOK1``), and no invisible character may make two ids look alike
    (``PLOOK1\u200b`` would slip past a lookout on ``PLOOK1``). Case is kept: a plate id
    is a keyed hash made upstream. Raises ValueError, whose message follows "value X ",
    naming the first control or format character.

    >>> identifier("\uff30LOOK1")
    'PLOOK1'
    """
    check_text(text)
    normal = unicodedata.normalize("NFKC", text)
    for char in text + normal:
        kind = REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind:
            name = unicodedata.name(char, "")
            raise ValueError(f"holds U+{ord(char):04X}{f' ({name})' if name else ''}, a {kind} "
                             "character: identifiers hold no control or format characters")
    normal = normal.strip()  # NFKC may start a value with a space ("\u00a8" is " \u0308")
    if not normal:
        raise ValueError("is empty in Unicode NFKC")
    return normal


def identifier_fault(value):
    """What :func:`identifier` says of a bad ``value``, after "value X "."""
    try:
        identifier(value)
    except ValueError as exc:
        return str(exc)
    return "is not an identifier"


class Kind:
    """How the values of one kind of column are checked.

    ``one(column, text)`` takes one stripped, non-empty cell and returns its canonical
    value, or raises ValueError whose message follows "value X " ("is not a 4-digit
    port code").

    ``many(column, text, empty)`` takes a column of stripped cells (a Series of n) and
    where they are empty (n bools), and returns ``(values, faults)``: ``values`` maps
    each canonical column the column gives (``crossed_at`` gives two) to its n values,
    unknown where empty; ``faults`` lists ``(bad, words)`` in the order they are told:
    n bools (an empty cell is never told) and ``words(value)``, the message that
    follows "value X ".
    """

    def words(self, column, value=None):
        """What is wrong with a bad ``value`` of ``column``, after "value X "."""
        return f"is not {expects(column)}"

    def faults(self, column, bad):
        """``many``'s faults when the kind has one message: ``[(bad, words)]``."""
        return [(bad, lambda value: self.words(column, value))]


def _text_values(column, text, empty):
    """A text column's canonical values: the cells, NaN where empty."""
    return {column.name: (text.mask(empty) if empty.any() else text).reset_index(drop=True)}


class FreeText(Kind):
    """``id`` and ``text``: any string a database can store."""

    def one(self, column, text):
        check_text(text)
        return text

    def many(self, column, text, empty):
        # no lone surrogate can come from a file: it was read as UTF-8
        nul = (text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
               if may_hold(text, b"\x00") else np.zeros(len(text), dtype=bool))
        return _text_values(column, text, empty), [(nul, lambda v: "contains a NUL character")]


class Identifier(Kind):
    """``id``: an identifier (:func:`identifier`), kept in NFKC."""

    def one(self, column, text):
        return identifier(text)

    def many(self, column, text, empty):
        data = char_data(text)
        if data is not None and not any(len(d) and (d.min() < 0x20 or d.max() > 0x7E)
                                        for d in data):
            # every character printable ASCII (one scan of arrow's character data): NFKC
            # already, and no control or format character
            return _text_values(column, text, empty), [(np.zeros(len(text), dtype=bool),
                                                        identifier_fault)]
        arrow = arrow_text(text)
        plain = pc.fill_null(pc.string_is_ascii(arrow), True)
        controls = pc.fill_null(pc.match_substring_regex(arrow, "[\\x00-\\x1f\\x7f]"), False)
        # printable ASCII is NFKC already and holds no format character: only the other
        # cells are looked at one by one
        odd = ~empty & (~plain.to_numpy(zero_copy_only=False).astype(bool)
                        | controls.to_numpy(zero_copy_only=False).astype(bool))
        bad = np.zeros(len(text), dtype=bool)
        values = _text_values(column, text, empty)
        if odd.any():
            column_values = values[column.name].astype(object).copy()
            for i in np.flatnonzero(odd):
                try:
                    column_values.iat[i] = identifier(column_values.iat[i])
                except ValueError:
                    bad[i] = True
            values = {column.name: column_values.astype(values[column.name].dtype)}
        return values, [(bad, identifier_fault)]


class Enumeration(Kind):
    """``enum``: one of the column's ``allowed`` values, exactly."""

    def one(self, column, text):
        if text not in column.allowed:
            raise ValueError(self.words(column))
        return text

    def many(self, column, text, empty):
        bad = ~text.isin(column.allowed).to_numpy()
        return _text_values(column, text, empty), self.faults(column, bad)


class Pattern(Kind):
    """A text that matches a regular expression whole (ASCII digits: ``[0-9]``)."""

    def __init__(self, pattern):
        self.pattern = re.compile(pattern)

    def one(self, column, text):
        if not self.pattern.fullmatch(text):
            raise ValueError(self.words(column))
        return text

    def many(self, column, text, empty):
        bad = ~text.str.fullmatch(self.pattern.pattern).fillna(False).to_numpy(dtype=bool)
        return _text_values(column, text, empty), self.faults(column, bad)


class Port(Pattern):
    """``port``: four ASCII digits."""

    def __init__(self):
        super().__init__(r"[0-9]{4}")

    def many(self, column, text, empty):
        digits = ascii_digits(text, empty)
        if digits is None:
            return super().many(column, text, empty)
        # all digits: [0-9]{4} is four bytes of them
        length = pc.binary_length(arrow_text(text)).to_numpy(zero_copy_only=False)
        bad = ~(digits & (length == 4))
        return _text_values(column, text, empty), self.faults(column, bad)


class Boolean(Kind):
    """``bool``: true or false (any case), 1 or 0; 1.0 or 0.0."""

    def one(self, column, text):
        low = text.lower()
        if low in _TRUE:
            return 1.0
        if low in _FALSE:
            return 0.0
        raise ValueError(self.words(column))

    def many(self, column, text, empty):
        low = text.str.lower()
        values = np.where(low.isin(_TRUE), 1.0, np.where(low.isin(_FALSE), 0.0, np.nan))
        return {column.name: values}, self.faults(column, np.isnan(values))


class Number(Kind):
    """A number in decimal digits (:data:`_NUMBER`) that ``rule`` takes, within the
    column's ``bounds``."""

    def __init__(self, rule):
        self.rule = rule

    def ok(self, column, x):
        """Whether each finite number ``x`` (an array, or one float) is one ``column``
        takes: the kind's rule and the column's plausible range."""
        ok = self.rule(x)
        if column.bounds:
            ok = ok & (x >= column.bounds[0]) & (x <= column.bounds[1])
        return ok

    def one(self, column, text):
        if not _NUMBER.fullmatch(text):
            raise ValueError(self.words(column))
        number = float(text)
        if not math.isfinite(number) or not bool(self.ok(column, number)):
            raise ValueError(self.words(column))
        return number

    def many(self, column, text, empty):
        well_formed = ascii_digits(text, empty)  # the common case: whole numbers, digits only
        if well_formed is None:
            well_formed = text.str.fullmatch(_NUMBER.pattern).fillna(False).to_numpy(dtype=bool)
        parsed = to_float(text, empty | ~well_formed)
        finite = np.isfinite(parsed)
        ok = finite & self.ok(column, np.where(finite, parsed, 0.0))
        return {column.name: np.where(ok, parsed, np.nan)}, self.faults(column, ~ok)


class Timestamp(Kind):
    """``timestamp``: ISO-8601 with a UTC offset, as UTC µs; a log also keeps the offset
    (``utc_offset_min``)."""

    def words(self, column, value=None):
        return f"is {timestamp_fault(value)}"

    def one(self, column, text):
        try:
            return parse_timestamp(text)[0]
        except ValueError as exc:
            raise ValueError(f"is {exc}") from None

    def many(self, column, text, empty):
        micros, offset, bad = parse_timestamps(text)
        return ({column.name: micros, "utc_offset_min": offset},
                self.faults(column, bad))


KINDS = {
    "id": Identifier(),
    "text": FreeText(),
    "enum": Enumeration(),
    "port": Port(),
    "jurisdiction": Pattern(r"(?:UNK|[A-Z]{2}-[A-Z0-9]{1,3})"),
    "bool": Boolean(),
    "int": Number(lambda x: x == np.floor(x)),
    "count": Number(lambda x: (x >= 0) & (x == np.floor(x))),
    "positive": Number(lambda x: (x >= 1) & (x == np.floor(x))),
    "amount": Number(lambda x: x >= 0),
    "probability": Number(lambda x: (x > 0) & (x <= 1)),
    "timestamp": Timestamp(),
}
