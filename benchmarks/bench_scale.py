"""National scale on Dask: generate, train and score a log of N rows, with figures.

    .venv/bin/python benchmarks/bench_scale.py --rows 20000000 [--workers 2]
        [--memory-limit 6GiB] [--in-process 1000000 2000000] [--workdir DIR]

For each size: ``southbound generate`` writes a Parquet dataset (shard by shard) of
about ``--rows`` rows over ``--days`` days; then ``southbound train --engine dask`` and
``southbound score --engine dask`` run against a ``distributed.LocalCluster`` of
``--workers`` single-threaded worker processes, each under ``--memory-limit`` (the
cluster is restarted before each step, so each worker's peak is the step's). Each
command runs as its own process; figures per step: wall time, rows per second per
core (rows / wall / workers), the command's own peak RSS (the driver, ``os.wait4``),
each worker's peak RSS (``getrusage`` in the worker), and from the scheduler's task
stream the compute seconds by kind of task and the longest task (for a projection to
more workers: the sum divides among them, the longest task does not).

``--in-process`` sizes also run ``southbound train`` and ``score`` in one process on
the same dataset, for the peak that the Dask path avoids (projected linearly to the
large size).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.world.writer import ROWS_PER_SCALE_DAY  # noqa: E402


def run(args, env=None):
    """Run one command; return (wall seconds, peak RSS MiB, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    err = proc.stderr.read().decode()   # read before waiting: a full pipe would block it
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"failed: {' '.join(map(str, args))}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, err


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def heavy_hitters(client, data, rows):
    """Per history pass, the rows of its largest key: one task holds at least those (a
    shuffle puts a key's rows in one bucket); for a pass cut in time as well (the
    port's), the largest (key, slice), the slice's history included."""
    from scoring.features_dask import (HISTORY_COLUMNS, history_keys, read_log_dask,
                                       time_slices)
    log = read_log_dask(data)[list(HISTORY_COLUMNS)]
    passes = history_keys()
    keys = [key for key, _, _ in passes]
    largest = [log[key].value_counts().nlargest(1) for key in keys]
    sliced = {}
    for key, _, reach in passes:
        if reach is not None:
            cut = log[[key, "crossed_at"]].map_partitions(
                time_slices, reach, meta=time_slices(log[[key, "crossed_at"]]._meta, reach))
            sliced[key] = cut.groupby([key, "_slice"]).size().nlargest(1)
    counts = client.compute(largest + list(sliced.values()), sync=True)
    out = {"rows": rows, "step": "largest key per pass"}
    for key, c in zip(keys + [f"{k}, slice" for k in sliced], counts):
        name = c.index[0]
        name = (f"{name[0]}, slice {int(name[1])}" if isinstance(name, tuple) else str(name))
        out[key] = {"key": name, "rows": int(c.iloc[0]),
                    "share": round(int(c.iloc[0]) / rows, 4)}
    return out


def task_summary(records, top=6):
    """Compute seconds of a step's tasks by kind (the key's prefix: ``_slices_history``
    is the port pass, ``_bucket_history`` the plate and carrier passes, ...), the kinds
    with the most, and the longest single task: what more workers divide, and what
    they cannot."""
    from dask.utils import key_split
    by_kind, longest = {}, (0.0, None)
    for record in records:
        kind = key_split(record["key"])
        for span in record.get("startstops", ()):
            if span["action"] == "compute":
                seconds = span["stop"] - span["start"]
                by_kind[kind] = by_kind.get(kind, 0.0) + seconds
                longest = max(longest, (seconds, kind))
    kinds = sorted(by_kind.items(), key=lambda item: -item[1])
    return {"task_s": round(sum(by_kind.values()), 1),
            "by_kind_s": {k: round(v, 1) for k, v in kinds[:top]},
            "longest_task": {"kind": longest[1], "s": round(longest[0], 1)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000_000])
    parser.add_argument("--days", type=int, default=44)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GiB")
    parser.add_argument("--in-process", type=int, nargs="*", default=[],
                        help="sizes also run in one process (rows)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--steps", nargs="+", choices=("train", "score"),
                        default=["train", "score"],
                        help="the Dask steps to run (score alone scores with the model "
                             "already in the work folder's registry)")
    opts = parser.parse_args()
    from distributed import Client, LocalCluster, get_task_stream
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)
    sb = str(Path(sys.executable).with_name("southbound"))
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(n_workers=opts.workers, threads_per_worker=1, processes=True,
                           memory_limit=opts.memory_limit, dashboard_address=None,
                           local_directory=str(work / "dask"))
    client = Client(cluster)
    env = {"SOUTHBOUND_DASK_SCHEDULER": cluster.scheduler_address}
    figures = []
    print(f"cores {os.cpu_count()}, {opts.workers} workers of 1 thread, memory limit "
          f"{opts.memory_limit} each; work in {work}")
    for rows in sorted(set(opts.rows) | set(opts.in_process)):
        data = work / f"world-{rows}"
        scale = rows / ROWS_PER_SCALE_DAY / opts.days
        if not data.exists():
            wall, rss, _ = run([sb, "generate", "--days", str(opts.days), "--scale",
                                f"{scale:.6f}", "--seed", "1", "--out", str(data)])
            figures.append({"rows": rows, "step": "generate", "wall_s": wall,
                            "driver_peak_mib": rss})
        size = sum(p.stat().st_size for p in data.glob("*.parquet"))
        print(f"{rows:,} rows: {len(list(data.glob('*.parquet')))} files, {size / 2**30:.2f} GiB")
        if rows in opts.rows:
            figures.append(heavy_hitters(client, data, rows))
            print(json.dumps(figures[-1]))
        registry = work / f"registry-{rows}"
        steps = []
        if rows in opts.rows and "train" in opts.steps:
            steps += [("train (dask)", [sb, "train", "--engine", "dask", "--data", str(data),
                                        "--registry", str(registry)])]
        if rows in opts.rows and "score" in opts.steps:
            steps += [("score (dask)", [sb, "score", "--engine", "dask", "--data", str(data),
                                        "--registry", str(registry),
                                        "--out", str(work / f"scores-{rows}")])]
        if rows in opts.in_process:
            steps += [("train (in-process)", [sb, "train", "--data", str(data), "--registry",
                                              str(work / f"registry-local-{rows}")]),
                      ("score (in-process)", [sb, "score", "--data", str(data), "--registry",
                                              str(work / f"registry-local-{rows}"),
                                              "--out", str(work / f"scores-{rows}.parquet")])]
        for name, args in steps:
            client.restart()
            shutil.rmtree(work / f"scores-{rows}", ignore_errors=True)
            try:
                with get_task_stream(client) as stream:
                    wall, rss, err = run(args, env)
            except RuntimeError as exc:   # a step that cannot finish is a figure too
                figures.append({"rows": rows, "step": name, "failed": str(exc)[-600:]})
                print(json.dumps(figures[-1]))
                continue
            workers = client.run(_peak_mib) if "dask" in name else {}
            cores = opts.workers if "dask" in name else 1
            row = {"rows": rows, "step": name, "wall_s": round(wall, 1),
                   "rows_per_s_per_core": round(rows / wall / cores),
                   "driver_peak_mib": round(rss), "worker_peak_mib":
                   sorted(round(v) for v in workers.values())}
            if "dask" in name:
                row["tasks"] = task_summary(stream.data)
            figures.append(row)
            print(json.dumps(row))
    client.close()
    cluster.close()
    if opts.out:
        opts.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
