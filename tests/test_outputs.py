"""The commands' CSV writer gives the bytes pandas' to_csv gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from southbound.outputs import write_csv


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"id": ["a", "b,c", 'say "hi"', "line\nbreak", "cr\rx", "", None, "é; ü"],
                  "score": [0.000986, 1e-06, np.nan, -0.0, 0.1 + 0.2, 123456789.0, 1e22, 0.5],
                  "refer": [True, False] * 4,
                  "n": np.arange(8, dtype=np.int64) - 3,
                  "band": pd.Series(["low", "high", None, "x", "y", "z", "w", "v"], dtype="str")}),
    pd.DataFrame({"mixed": [1, "a", None], "when": pd.to_datetime(["2025-01-01"] * 3)}),
    pd.DataFrame({"a,b": pd.Series([], dtype=float)}),
], ids=["kinds", "left-to-pandas", "empty"])
def test_write_csv_gives_pandas_bytes(frame, tmp_path):
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(frame, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
