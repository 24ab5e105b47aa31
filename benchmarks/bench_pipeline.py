"""Training and batch scoring on a ~1,000,000-crossing log: wall time and peak memory.

Each measured step runs as its own process (the `southbound` command), so its peak
RSS is its own (os.wait4). Prints one line per run and a median summary.

    .venv/bin/python benchmarks/bench_pipeline.py [--rows 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: rows a 1-day world yields per unit of --scale (measured on the default world)
ROWS_PER_SCALE_DAY = 456_000


def run(args):
    """Run one command; return (wall seconds, peak RSS MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    sb = str(Path(sys.executable).with_name("southbound"))
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "world.csv"
    scale = opts.rows / ROWS_PER_SCALE_DAY / opts.days
    wall, _ = run([sb, "generate", "--days", str(opts.days), "--scale", f"{scale:.6f}",
                   "--seed", "1", "--out", str(log)])
    with open(log) as handle:
        rows = sum(1 for _ in handle) - 1
    print(f"log: {rows:,} crossings over {opts.days} days ({log.stat().st_size / 2**20:.0f} MiB), "
          f"generated in {wall:.1f} s; cores: {os.cpu_count()}")
    results = {"train": [], "score": []}
    for i in range(opts.repeat):
        registry = work / f"registry-{i}"
        results["train"].append(run([sb, "train", "--data", str(log), "--registry", str(registry)]))
        results["score"].append(run([sb, "score", "--data", str(log), "--registry", str(registry),
                                     "--out", str(work / "scores.csv")]))
        for step in ("train", "score"):
            wall, rss = results[step][-1]
            print(f"run {i + 1} {step:<6} {wall:6.1f} s  peak RSS {rss:6.0f} MiB")
    print(f"{'step':<6} {'median s':>9} {'max s':>7} {'peak RSS MiB':>13} (of {opts.repeat} runs)")
    for step, runs in results.items():
        walls = [w for w, _ in runs]
        print(f"{step:<6} {statistics.median(walls):9.1f} {max(walls):7.1f} "
              f"{max(r for _, r in runs):13.0f}")


if __name__ == "__main__":
    main()
