"""Counts, amounts and undefined figures read as words, the same way everywhere."""
from __future__ import annotations

import math

import pytest

from scoring.wording import money, number, plural


@pytest.mark.parametrize("n,word,text", [
    (1, "seizure", "1 seizure"), (0, "seizure", "0 seizures"), (2, "seizure", "2 seizures"),
    (1, "outbound crossing", "1 outbound crossing"), (12_000, "row", "12,000 rows"),
    (3.0, "seizure", "3 seizures"), (1.0, "seizure", "1 seizure"),
    (2, "other plate country", "2 other plate countries"), (2, "day", "2 days"),
    (2, "match", "2 matches"),
], ids=lambda v: str(v))
def test_plural(n, word, text):
    assert plural(n, word) == text


@pytest.mark.parametrize("amount,text", [
    (12_000.5, "$12,000.50"), (12_000, "$12,000"), (12_000.0, "$12,000"), (0, "$0"),
    (0.25, "$0.25"), (1_234_567.891, "$1,234,567.89"), (math.nan, "-"), (None, "-"),
], ids=lambda v: str(v))
def test_money_is_whole_dollars_or_two_decimals(amount, text):
    assert money(amount) == text


def test_an_undefined_figure_is_a_dash_never_nan():
    assert number(math.nan) == "-" and number(None) == "-" and number(1.234) == "1.23"


def test_train_and_evaluate_words_for_one_seizure():
    from training.evaluate import format_report
    from training.fit import few_seizure_warnings
    from training.monitoring import few_seizures_note
    assert few_seizure_warnings({"validate": {"seizures": 1}})[0].startswith(
        "the validate window has 1 seizure (fewer")
    assert few_seizures_note(1).startswith("this figure rests on 1 seizure (")
    row = {"budget": 0.01, "recall": 0.5, "hit_rate": 0.1, "recall_ci": [0.1, 0.9],
           "hit_rate_ci": [math.nan, math.nan], "lift_over_random": 10.0,
           "lift_over_legacy": math.nan, "seizures_behind": 1, "unstable": True}
    text = format_report({
        "rows": 10, "inspected": 3, "seizures": 1, "estimated_prevalence": 0.01,
        "pr_auc": math.nan, "budgets": [row],
        "legacy_as_run": {"referred": 3, "share": 0.3, "seizures": 1.0, "hit_rate": 1 / 3,
                          "recall": 1.0},
        "calibration": {"observed_over_expected": math.nan, "ece": math.nan,
                        "brier": math.nan}})
    assert "nan" not in text.lower()
    assert "PR-AUC -" in text and "[-,-]" in text
    assert ", 1 seizure, hit rate" in text
    assert text.splitlines()[2].split()[5:7] == ["10.0", "-"]   # lift/legacy undefined
