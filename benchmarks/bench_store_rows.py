"""What storing a crossing and looking up its history cost in the store, per outbound truck.

Generates a world (``--days``, ``--scale``, seed 7), stores every row in time order
through ``Store.insert_crossing`` in one SQLite transaction, and times, for each outbound
truck with a carrier in the last ``--timed`` share of the rows, the history lookup
(``Store.history``: the plate's, the carrier's and the port's queries) and then the
store of the crossing (with its own counts of each ``below`` spec's base). Prints p50 and
p99 in ms. Run it with another checkout first on ``PYTHONPATH`` to compare two versions
in one sitting:

    .venv/bin/python benchmarks/bench_store_rows.py [--days 60] [--scale 0.01]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/bench_store_rows.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if not any(Path(p, "scoring").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.contract import parse_record  # noqa: E402
from service.store import Store  # noqa: E402
from training.synth import WorldConfig, generate_world  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--timed", type=float, default=0.2,
                    help="the last share of the rows whose trucks are timed")
    args = ap.parse_args(argv)
    log, _ = generate_world(WorldConfig(days=args.days, seed=7, scale=args.scale))
    log = log.sort_values("crossed_at", kind="stable")
    records = [parse_record(r) for r in log.astype(str).replace("nan", "").to_dict("records")]
    first_timed = len(records) * (1 - args.timed)
    history, store_ms = [], []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/store.db", sqlite_synchronous="NORMAL")
        store.migrate()
        with store.write() as conn:
            for i, record in enumerate(records):
                if (i >= first_timed and record.get("direction") == "outbound"
                        and record.get("carrier_id")):
                    started = time.perf_counter()
                    store.history(conn, record)
                    history.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    store.insert_crossing(conn, record)
                    store_ms.append(time.perf_counter() - started)
                else:
                    store.insert_crossing(conn, record)
        store.engine.dispose()

    def ms(values, q):
        return np.percentile(values, q) * 1e3
    print(f"{len(records):,} rows, {len(store_ms):,} trucks timed: "
          f"store p50 {ms(store_ms, 50):.3f} ms, p99 {ms(store_ms, 99):.3f} ms; "
          f"history p50 {ms(history, 50):.3f} ms, p99 {ms(history, 99):.3f} ms")


if __name__ == "__main__":
    main()
