"""How long ``southbound purge`` takes on a SQLite store of ~200,000 crossings, half of
them before the cutoff.

Builds a fresh store (migrated by the product, filled in bulk): ``--crossings`` over
``--days`` days at 8 ports, 90% outbound and each of those scored with a feature vector
as the service stores one, 10% of them with an outcome, half with a shadow score. Then
runs the command as an operator would (a process of its own): ``purge --dry-run``, then
``purge --before`` the middle day, and prints the wall time of each and the time the
command reports for its transaction (the delete and the audit row), and the file's size
before and after. ``--rounds`` fresh stores.

    .venv/bin/python benchmarks/bench_purge.py [--crossings 200000] [--days 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = 86_400_000_000
START = 1_735_689_600_000_000   # 2025-01-01T00:00:00Z
PORTS = ["2304", "2402", "2403", "2404", "2503", "2506", "2507", "2601"]


def build(path, n, days, seed):
    """A migrated store at ``path`` holding ``n`` crossings over ``days`` days."""
    from service.store import Store
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.engine.dispose()
    rng = random.Random(seed)
    features = json.dumps({f"feature_{i}": rng.random() for i in range(30)})
    crossings, scores, outcomes, shadows = [], [], [], []
    for i in range(n):
        key, at = f"X{i:07d}", START + int(i * days * DAY / n)
        port, outbound = PORTS[i % len(PORTS)], rng.random() < 0.9
        crossings.append((key, at, -360, "outbound" if outbound else "inbound", port,
                          "personal", f"P{rng.randrange(n // 4)}", at))
        if not outbound:
            continue
        scores.append((key, at, port, "v1", "p1", 0.1, 0.1, "low", 0, "model", 0.01, "[]",
                       features, "0" * 64))
        if rng.random() < 0.1:
            outcomes.append((key, at + 600_000_000, "ana", 1, 0))
        if rng.random() < 0.5:
            shadows.append((key, at, port, "v2", 0.2, 0.2, 0.5, 0))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO crossings (crossing_id, crossed_at, utc_offset_min, "
                         "direction, port_code, vehicle_class, plate_id, received_at) "
                         "VALUES (?,?,?,?,?,?,?,?)", crossings)
        conn.executemany("INSERT INTO scores (crossing_id, scored_at, port_code, "
                         "model_version, policy_version, risk_score, raw_score, risk_band, "
                         "refer, referral_source, selection_probability, reasons, features, "
                         "request_sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", scores)
        conn.executemany("INSERT INTO outcomes (crossing_id, recorded_at, actor, inspected, "
                         "seizure) VALUES (?,?,?,?,?)", outcomes)
        conn.executemany("INSERT INTO shadow_scores (crossing_id, scored_at, port_code, "
                         "model_version, risk_score, raw_score, threshold, would_refer) "
                         "VALUES (?,?,?,?,?,?,?,?)", shadows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return len(scores), len(outcomes), len(shadows)


def command(url, *args):
    """Run ``southbound purge`` in a process of its own: (wall seconds, its output)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from southbound.cli import main; main()",
                           "purge", "--db", url, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return time.perf_counter() - started, done.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--crossings", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cutoff = START + args.days // 2 * DAY
    from scoring.contract import format_timestamp
    before = format_timestamp(cutoff)
    runs = []
    for seed in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "store.db")
            made = build(path, args.crossings, args.days, seed)
            size = os.path.getsize(path)
            url = f"sqlite:///{path}"
            dry, _ = command(url, "--before", before, "--dry-run")
            wall, out = command(url, "--before", before)
            inside = float(re.search(r"in ([\d.]+) s", out).group(1))
            deleted = dict(re.findall(r"^(\w+) +(\d+) deleted$", out, re.M))
            runs.append((dry, wall, inside))
            print(f"round {seed}: {args.crossings} crossings, {made[0]} scores, {made[1]} "
                  f"outcomes, {made[2]} shadow scores, {size / 1e6:.0f} MB; dry run "
                  f"{dry:.1f} s; purge {wall:.1f} s (transaction {inside:.1f} s), deleted "
                  f"{deleted}; file {os.path.getsize(path) / 1e6:.0f} MB after", flush=True)
    for name, i in (("dry run", 0), ("purge, wall", 1), ("purge, transaction", 2)):
        print(f"{name}: median {statistics.median(r[i] for r in runs):.1f} s "
              f"(min {min(r[i] for r in runs):.1f}, max {max(r[i] for r in runs):.1f})")


if __name__ == "__main__":
    main()
