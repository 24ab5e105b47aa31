"""How long ``southbound audit purge`` takes on an audit trail of ~200,000 rows, half of
them before the cutoff, on SQLite and on the machine's PostgreSQL.

Builds a fresh store (migrated by the product) and fills its audit trail in bulk with
``--rows`` chained rows over ``--days`` days (each row's hash computed as
:mod:`service.store.chain` computes it). Then runs the commands as an operator would (each
a process of its own): ``audit verify``, ``audit purge --dry-run`` (which walks the chain
too: a purge never erases a broken row), ``audit purge --before`` the middle day, and
``audit verify`` again, and prints the wall time of each and the time the purge reports
for its transaction (the anchor and the delete). ``--rounds`` fresh stores per database.

    .venv/bin/python benchmarks/bench_audit_purge.py [--rows 200000] [--days 100] [--rounds 3]
        [--databases sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import json
import os
import re
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
ACTIONS = ["score", "crossing_read", "lane_read", "outcome", "inbound"]


def fill(url, n, days):
    """Migrate the store at ``url`` and append ``n`` chained audit rows over ``days`` days."""
    import sqlalchemy as sa

    from service.store import Store, audit, chain
    store = Store(url)
    store.migrate()
    prev, rows = chain.GENESIS, []
    for i in range(n):
        row = dict(at=START + int(i * days * DAY / n), actor="booth-2304",
                   action=ACTIONS[i % len(ACTIONS)], target=f"X{i:07d}", model_version="v1",
                   policy_version="p1", detail=json.dumps({"client": "10.0.0.7"}))
        row["prev_hash"], row["row_hash"] = prev, chain.row_hash(prev, row)
        prev = row["row_hash"]
        rows.append(row)
    with store.engine.begin() as conn:
        for k in range(0, n, 20_000):
            conn.execute(sa.insert(audit), rows[k:k + 20_000])
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.engine.dispose()


def command(url, *args):
    """Run ``southbound audit ...`` in a process of its own: (wall seconds, its output)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from southbound.cli import main; main()",
                           "audit", *args, "--db", url], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return time.perf_counter() - started, done.stdout


def one_round(url, args, before):
    fill(url, args.rows, args.days)
    verify, _ = command(url, "verify")
    dry, out = command(url, "purge", "--before", before, "--dry-run")
    would = int(re.search(r"audit +(\d+) would delete", out).group(1))
    wall, out = command(url, "purge", "--before", before)
    inside = float(re.search(r"in ([\d.]+) s", out).group(1))
    after, out = command(url, "verify")
    assert "intact" in out, out
    return verify, dry, wall, inside, after, would


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    from scoring.contract import format_timestamp
    before = format_timestamp(START + args.days // 2 * DAY)
    names = ("verify", "purge --dry-run", "purge, wall", "purge, transaction",
             "verify after")
    for database in args.databases.split(","):
        runs = []
        for seed in range(args.rounds):
            if database == "sqlite":
                with tempfile.TemporaryDirectory() as folder:
                    runs.append(one_round(f"sqlite:///{folder}/store.db", args, before))
            else:
                from tests.helpers.pg import pg_database
                url, drop = pg_database()
                try:
                    runs.append(one_round(url, args, before))
                finally:
                    drop()
            print(f"{database} round {seed}: " + ", ".join(
                f"{name} {value:.2f} s" for name, value in zip(names, runs[-1]))
                + f"; {runs[-1][-1]} rows removed", flush=True)
        for i, name in enumerate(names):
            values = [r[i] for r in runs]
            print(f"{database} {name}: median {statistics.median(values):.2f} s "
                  f"(min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
