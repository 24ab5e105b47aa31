"""The crossing logs a training reads, and what its manifest records of each file."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.files import sha256_file
from scoring import contract
from scoring.paths import extra_ports_file
from scoring.ports import port_zones


def read_logs(paths, on_error="raise", later_wins=False):
    """Read several crossing logs into one canonical frame.

    A ``crossing_id`` may appear once across the files; with ``later_wins`` a row of
    a later file instead replaces the row of the same id in an earlier one (the
    service's export after the log it replayed, say), and each source counts the
    rows it replaced. A replacement must be the same crossing (:data:`SAME_CROSSING`:
    time, plate, port, direction), only its other values newer: a row of another
    crossing that merely shares the id (another log's numbering) is a ContractError
    naming both rows.

    Returns
    -------
    frame : DataFrame
    sources : list of dict
        Per file: path, SHA-256, rows, rejected rows, ignored columns, the port codes
        the port table lacks with their row counts (``unknown_ports``), replaced rows.
    """
    frames, sources, lines = [], [], []
    for i, path in enumerate(paths):
        result = contract.read_log(path, on_error=on_error)
        frames.append(result.frame.assign(_file=i))
        lines.append(_file_lines(path, result))
        sources.append(describe_source(path, result))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    line = np.concatenate(lines)
    # one file's ids are unique already (read_log refuses or sets aside a repeated one)
    dup = (frame["crossing_id"].duplicated(keep="last" if later_wins else "first").to_numpy()
           if len(frames) > 1 else np.zeros(len(frame), dtype=bool))
    if dup.any() and not later_wins:
        i = int(np.flatnonzero(dup)[0])
        value = frame["crossing_id"].iloc[i]
        first = int(np.flatnonzero((frame["crossing_id"] == value).to_numpy())[0])
        raise contract.ContractError(
            f"value {contract.show_value(value)} is a repeated crossing_id (first at "
            f"{paths[frame['_file'].iloc[first]]}, row {line[first]}; --later-wins lets a "
            "later file's row replace an earlier one)",
            source=str(paths[frame["_file"].iloc[i]]), row=int(line[i]), column="crossing_id")
    if dup.any():
        _same_crossings(frame, dup, line, paths)
        # the replaced rows are the earlier ones; count them against the file that replaced
        keeper = frame.loc[~dup].set_index("crossing_id")["_file"]
        for file_index in keeper.reindex(frame.loc[dup, "crossing_id"]).to_numpy():
            sources[int(file_index)]["replaced"] += 1
        frame = frame.loc[~dup].reset_index(drop=True)
    return frame.drop(columns="_file"), sources


#: the columns that make a later file's row the same crossing as the one it replaces
SAME_CROSSING = ("crossed_at", "plate_id", "port_code", "direction")


def _same_crossings(frame, dup, line, paths):
    """Refuse (ContractError naming both rows) the first replacement under --later-wins
    that is another crossing: its time, plate, port or direction differs."""
    replaced = np.flatnonzero(dup)
    kept = pd.Series(np.flatnonzero(~dup), index=frame["crossing_id"].to_numpy()[~dup])
    by = kept.reindex(frame["crossing_id"].to_numpy()[replaced]).to_numpy()
    differs = np.zeros(len(replaced), dtype=bool)
    for name in SAME_CROSSING:
        values = frame[name].to_numpy()
        differs |= np.asarray(values[replaced] != values[by], dtype=bool)
    if not differs.any():
        return
    old, new = int(replaced[differs][0]), int(by[differs][0])
    names = [n for n in SAME_CROSSING if frame[n].iloc[old] != frame[n].iloc[new]]

    def shown(i):
        return ", ".join(f"{n} " + (contract.format_timestamp(int(frame[n].iloc[i]))
                                    if n == "crossed_at"
                                    else contract.show_value(frame[n].iloc[i]))
                         for n in names)
    raise contract.ContractError(
        f"value {contract.show_value(frame['crossing_id'].iloc[new])} would replace another "
        f"crossing of the same crossing_id at {paths[frame['_file'].iloc[old]]}, row "
        f"{line[old]} ({shown(old)} there; {shown(new)} here): --later-wins replaces a row "
        "only by the same crossing (same time, plate, port and direction); are these logs "
        "of different worlds?", source=str(paths[frame["_file"].iloc[new]]),
        row=int(line[new]), column="crossing_id")


def describe_source(path, result):
    """What the manifest records of one input file: path, SHA-256, rows, rejected rows
    (``rejects`` holds them), ignored columns, unknown ports and ports without a zone."""
    return {"path": str(path), "sha256": sha256_file(path), "rows": len(result.frame),
            "rejected": len(result.rejected), "ignored_columns": list(result.ignored_columns),
            "unknown_ports": dict(result.unknown_ports),
            "ports_without_zone": _ports_without_zone(result.frame, result.unknown_ports),
            "rejects": result.rejected, "replaced": 0}


def _ports_without_zone(frame, unknown):
    """``{port: rows}`` of the known ports whose table row names no time zone (their local
    hour and weekday are missing; unknown ports are reported as such already)."""
    zones = port_zones(extra_ports_file())
    counts = frame["port_code"].value_counts()
    return {str(p): int(n) for p, n in counts.sort_index().items()
            if p not in zones and p not in unknown}


def _file_lines(path, result):
    """The file line (header = 1; Parquet rows from 1) of each row of ``result.frame``."""
    first = contract.first_row(path)
    total = len(result.frame) + len(result.rejected)
    kept = np.ones(total, dtype=bool)
    if len(result.rejected):
        kept[result.rejected["row"].to_numpy(int) - first] = False
    return np.flatnonzero(kept) + first
