"""The port pass of the busiest port, in one process: the task no worker count splits.

Reads one port's rows from a generated Parquet dataset (``southbound generate --out``)
and times the history features keyed by the port (its hour mix over 7 days, convoy
partners), as the Dask port pass runs them on that port's bucket; prints rows, wall
time and this process's peak RSS. At national scale this task bounds the wall time
whatever the number of workers.

    .venv/bin/python benchmarks/port_pass.py /tmp/scale/world-20000000 --port 2504
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
    args = parser.parse_args()
    import tempfile

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from scoring.contract import read_log
    from scoring.features import HISTORY, history_frame
    started = time.perf_counter()
    table = ds.dataset(args.data, format="parquet").to_table(
        filter=ds.field("port_code") == args.port)
    with tempfile.TemporaryDirectory() as folder:   # the contract's own Parquet reading
        pq.write_table(table, Path(folder) / "port.parquet")
        del table
        frame = read_log(Path(folder) / "port.parquet").frame
    read = time.perf_counter() - started
    specs = tuple(s for s in HISTORY if s.key == "port_code")
    query = (frame["direction"] == "outbound").to_numpy()
    started = time.perf_counter()
    values = history_frame(frame, query, specs=specs)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"port {args.port}: {len(frame):,} rows, {int(query.sum()):,} outbound; read "
          f"{read:.0f} s; {', '.join(s.name for s in specs)}: {wall:.0f} s; peak RSS "
          f"{peak:.2f} GiB; rows with a convoy partner "
          f"{(values['plate_convoy_partners'] > 0).mean():.3f}")


if __name__ == "__main__":
    main()
