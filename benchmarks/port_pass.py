"""The port pass of the busiest port, in one process: whole, or cut in slices of time.

Reads one port's rows from a generated Parquet dataset (``southbound generate --out``)
and times the history features keyed by the port (its hour mix over 7 days, convoy
partners). With ``--span-days 0`` as one task over the whole port, as the Dask port
pass ran before it was cut in time (at national scale that task bounds the wall time
whatever the number of workers); with ``--span-days N`` as the Dask pass runs it now,
one task per slice of N days, each reading the 7 days before it: the total over the
slices (the work, against the whole port's), the largest slice (the task that bounds
the wall time) and this process's peak RSS (one run per span: the peak is the
process's).

    .venv/bin/python benchmarks/port_pass.py /tmp/scale/world-20000000 --port 2504 \
        --span-days 7
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a Parquet dataset (folder)")
    parser.add_argument("--port", default="2504")
    parser.add_argument("--span-days", type=float, default=7,
                        help="the slices' span in days; 0: the whole port as one task")
    parser.add_argument("--largest", type=int, default=None,
                        help="time only the K slices with the most rows (the tasks that "
                             "bound the wall time); default every slice")
    args = parser.parse_args()
    import tempfile

    import pandas as pd
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from scoring.contract import read_log
    from scoring.features import DAY_US, history_frame
    from scoring.features_dask import (HISTORY_COLUMNS, _slices_history, history_keys,
                                       time_slices)
    started = time.perf_counter()
    table = ds.dataset(args.data, format="parquet").to_table(
        filter=ds.field("port_code") == args.port)
    with tempfile.TemporaryDirectory() as folder:   # the contract's own Parquet reading
        pq.write_table(table, Path(folder) / "port.parquet")
        del table
        # the columns a worker's port pass holds
        frame = read_log(Path(folder) / "port.parquet").frame[list(HISTORY_COLUMNS)]
    read = time.perf_counter() - started
    _, specs, reach = next(p for p in history_keys() if p[0] == "port_code")
    query = (frame["direction"] == "outbound").to_numpy()
    names = ", ".join(s.name for s in specs)
    started = time.perf_counter()
    if not args.span_days:
        values = history_frame(frame, query, specs=specs)
        tasks = f"one task: {time.perf_counter() - started:.1f} s"
    else:
        sliced = time_slices(frame, reach, int(args.span_days * DAY_US))
        sizes = sliced["_slice"].value_counts()
        timed = sizes.index[:args.largest] if args.largest else sorted(sizes.index)
        walls, parts = [], []
        for k in timed:
            rows = sliced[(sliced["_slice"] == k).to_numpy()]
            begun = time.perf_counter()
            parts.append(_slices_history(rows, "port_code", specs))
            walls.append((time.perf_counter() - begun, len(rows)))
            print(f"  slice {k}: {len(rows):,} rows, {walls[-1][0]:.1f} s", flush=True)
        values = pd.concat(parts)
        wall, rows = max(walls)
        tasks = (f"{len(sizes)} slices of {args.span_days:g} days, {len(sliced):,} rows "
                 f"({len(sliced) / len(frame):.2f}x); {len(walls)} timed: total "
                 f"{sum(w for w, _ in walls):.1f} s, largest {wall:.1f} s ({rows:,} rows)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"port {args.port}: {len(frame):,} rows, {int(query.sum()):,} outbound; read "
          f"{read:.0f} s; {names}: {tasks}; peak RSS {peak:.2f} GiB; rows with a convoy "
          f"partner {(values['plate_convoy_partners'] > 0).mean():.3f}")


if __name__ == "__main__":
    main()
