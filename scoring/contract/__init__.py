"""The crossing log, version 1: one definition of every column, checked one crossing at
a time (the service) and a whole log at a time (training, batch scoring).

- :mod:`~scoring.contract.columns`: the column table, the values it allows, the error;
- :mod:`~scoring.contract.kinds`: each kind of column's check, for a value and for a
  column side by side; :mod:`~scoring.contract.timestamps`: ``crossed_at``'s form;
  :mod:`~scoring.contract.rules`: the rules across columns, for a row and for a frame;
- :mod:`~scoring.contract.record`: one crossing (:func:`parse_record`);
- :mod:`~scoring.contract.frame`: a whole log (:func:`parse_frame`), with
  :mod:`~scoring.contract.arrow`'s fast paths;
- :mod:`~scoring.contract.files`: a log's file, CSV or Parquet (:func:`read_log`).

Both executions return the canonical form:

- ``crossed_at`` as UTC microseconds since the epoch (int64) plus
  ``utc_offset_min``, the offset the timestamp was written with (int);
- numbers and booleans as float (booleans 1.0 / 0.0), NaN when unknown;
- text and enumerations as ``str``, ``None`` (or NaN in a frame) when unknown.

See ``../shared/contract/crossing-log.md``.
"""
from scoring.contract.columns import (BODY_TYPES, BY_NAME, CERTAIN_REFERRALS, COLUMN_NAMES,
                                      COLUMNS, DIRECTIONS, MODEL_YEAR_AHEAD, OUTCOME_CAPS,
                                      OUTCOME_COLUMNS, OUTCOME_REVIEW, REFERRALS, REQUIRED,
                                      SEIZED_AMOUNTS, TEXT_KINDS,
                                      VEHICLE_CLASSES, VERSION, YEARS, Column, ContractError,
                                      expects, show_json, show_value)
from scoring.contract.files import first_row, read_log
from scoring.contract.frame import ReadResult, parse_frame
from scoring.contract.kinds import check_text, identifier
from scoring.contract.record import parse_record, parse_value
from scoring.contract.rules import model_year_ahead, outcome_problem, outcome_review
from scoring.contract.timestamps import (TIMESTAMP_PATTERN, format_timestamp, parse_timestamp,
                                         timestamp_fault)

__all__ = [
    "BODY_TYPES", "BY_NAME", "CERTAIN_REFERRALS", "COLUMN_NAMES", "COLUMNS", "DIRECTIONS",
    "MODEL_YEAR_AHEAD", "OUTCOME_CAPS", "OUTCOME_COLUMNS", "OUTCOME_REVIEW", "REFERRALS",
    "REQUIRED", "SEIZED_AMOUNTS", "TEXT_KINDS", "TIMESTAMP_PATTERN", "VEHICLE_CLASSES", "VERSION", "YEARS", "Column",
    "ContractError", "ReadResult", "check_text", "expects", "first_row", "format_timestamp",
    "identifier",
    "model_year_ahead", "outcome_problem", "outcome_review", "parse_frame", "parse_record",
    "parse_timestamp", "parse_value", "read_log", "show_json", "show_value", "timestamp_fault",
]
