"""How the port pass's (port, week) groups fall into the Dask shuffle's buckets.

The Dask port pass shuffles the log, cut in slices of time (``features_dask.
time_slices``: a row in its own week and as history in the next), on (port, slice)
into ``buckets`` partitions; one task computes one bucket, so the largest bucket bounds
the pass's wall time whatever the number of workers. This counts each group's rows in a
generated Parquet dataset and assigns the groups to buckets as Dask's shuffle does
(its own ``partitioning_index``, numeric keys cast to float64 first, as in
``AssignPartitioningIndex``), for several bucket counts: the largest bucket's rows
(against the largest single group's, the least any count can reach), its groups, and
the share of buckets left empty; and the same groups spread by their sizes, as the
pass does now (``features_dask.balance``), for comparison.

    .venv/bin/python benchmarks/slice_buckets.py /tmp/scale/world-20000000 \
        --buckets 40 80 160 320
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a Parquet dataset (folder)")
    parser.add_argument("--buckets", type=int, nargs="+", default=[40, 80, 160, 320])
    args = parser.parse_args()
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from dask.dataframe.shuffle import partitioning_index

    from scoring.features_dask import balance, history_keys, log_files, time_slices
    files = [str(path) for path in log_files(args.data)]   # the log's, not the truth's
    table = ds.dataset(files, format="parquet").to_table(columns=["port_code", "crossed_at"])
    micros = pc.cast(table["crossed_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    rows = pd.DataFrame({"port_code": pd.Series(table["port_code"].to_numpy(), dtype="str"),
                         "crossed_at": micros.to_numpy()})
    del table
    _, _, reach = next(p for p in history_keys() if p[0] == "port_code")
    sliced = time_slices(rows, reach)
    groups = (sliced.groupby(["port_code", "_slice"], observed=True).size()
              .rename("rows").reset_index())
    print(f"{len(rows):,} rows, {len(sliced):,} with history copies, {len(groups):,} "
          f"(port, week) groups; largest group {groups['rows'].max():,} rows")
    # the key columns as the shuffle hashes them: numbers as float64
    keys = groups[["port_code", "_slice"]].astype({"_slice": np.float64})
    sizes = groups["rows"].to_numpy()
    print(f"{'buckets':>8} {'spread':>8} {'largest bucket rows':>20} {'x largest group':>16} "
          f"{'its groups':>11} {'empty':>6}")
    for n in args.buckets:
        for spread, bucket in (("hash", np.asarray(partitioning_index(keys, n))),
                               ("by size", balance(sizes, n))):
            load = np.bincount(bucket, weights=sizes, minlength=n)
            top = int(np.argmax(load))
            print(f"{n:>8} {spread:>8} {int(load[top]):>20,} {load[top] / sizes.max():>16.2f} "
                  f"{int((bucket == top).sum()):>11} {(load == 0).mean():>6.0%}")


if __name__ == "__main__":
    main()
