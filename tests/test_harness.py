"""The suite's own promise: a test whose real parts are missing fails, saying what."""
from __future__ import annotations

import pytest

from tests.helpers.browser import require


def test_a_missing_part_fails_the_test_and_names_it(monkeypatch):
    monkeypatch.delenv("SOUTHBOUND_TEST_SKIP_MISSING", raising=False)
    with pytest.raises(pytest.fail.Exception, match="chromium is not at /nowhere"):
        require("chromium is not at /nowhere")
    require(None)  # nothing missing: nothing happens


def test_a_missing_part_is_skipped_only_when_asked(monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_TEST_SKIP_MISSING", "1")
    with pytest.raises(pytest.skip.Exception, match="chromium is not at /nowhere"):
        require("chromium is not at /nowhere")
