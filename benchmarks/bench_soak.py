"""Soak: /v1/score held at half the measured maximum for ten minutes, history growing.

Starts the service as bench_service.py does (gunicorn, 2 sync workers, fresh SQLite
store, a model trained on a generated world), measures the maximum score throughput
with wrk, then holds about half of it for ``--minutes`` in one-minute wrk runs paced
by a per-connection delay that is re-aimed after every minute. The crossings' clock
moves forward run after run and plates come from a pool of 20,000, so every plate's
history keeps growing. After each minute it reads each process's RSS from /proc.

At the end it checks the store against the list of crossing_ids that wrk saw answered
2xx: each is stored once, has its score row and exactly one audit row.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10]

Loopback only; every wrk run is bounded in time.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import LUA, prepare, require_wrk, serving, wrk  # noqa: E402

CONNECTIONS, THREADS = 8, 2


def rss_mib(pid):
    """Resident set size of a process in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def workers_of(pid):
    """The gunicorn master's child processes (its workers)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return sorted(children)


def check_store(db_path, acked_dir):
    """Every acknowledged crossing_id: stored once, scored, exactly one audit row."""
    acked = [line for f in sorted(acked_dir.glob("*.ids"))
             for line in f.read_text().splitlines() if line]
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TEMP TABLE acked (crossing_id TEXT)")
        conn.executemany("INSERT INTO acked VALUES (?)", [(i,) for i in acked])
        missing = conn.execute("SELECT count(*) FROM acked a LEFT JOIN crossings c "
                               "USING (crossing_id) WHERE c.crossing_id IS NULL").fetchone()[0]
        unscored = conn.execute("SELECT count(*) FROM acked a LEFT JOIN scores s "
                                "USING (crossing_id) WHERE s.crossing_id IS NULL").fetchone()[0]
        audit_counts = dict(conn.execute(
            "SELECT n, count(*) FROM (SELECT a.crossing_id, count(au.id) AS n FROM acked a "
            "LEFT JOIN audit au ON au.target = a.crossing_id AND au.action = 'score' "
            "GROUP BY a.crossing_id) GROUP BY n").fetchall())
        stored = conn.execute("SELECT count(*) FROM crossings").fetchone()[0]
        score_audits = conn.execute("SELECT count(*) FROM audit WHERE action = 'score'"
                                    ).fetchone()[0]
    return {"acknowledged": len(acked), "distinct_acknowledged": len(set(acked)),
            "missing": missing, "unscored": unscored,
            "audit_rows_per_acknowledged": {str(k): v for k, v in audit_counts.items()},
            "stored_crossings": stored, "score_audit_rows": score_audits}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--segment", type=int, default=60, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    require_wrk()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-soak-"))
    env, token = prepare(work)
    script = work / "score.lua"
    script.write_text(LUA)
    acked_dir = work / "acked"
    acked_dir.mkdir()
    clock = [1741100000]

    def run(seconds, delay_ms, label):
        wrk_env = {**env, "SOUTHBOUND_BENCH_TOKEN": token, "SOUTHBOUND_BENCH_RUN": label,
                   "SOUTHBOUND_BENCH_T0": str(clock[0]),
                   "SOUTHBOUND_BENCH_DELAY_MS": f"{delay_ms:.3f}",
                   "SOUTHBOUND_BENCH_ACKED": str(acked_dir)}
        result = wrk(url, seconds, CONNECTIONS, THREADS, str(script), wrk_env)
        # each thread's clock advances 7 s per request; start the next run after it
        clock[0] += 7 * (result["requests"] // THREADS + CONNECTIONS) + 60
        return result

    with serving(env, opts.workers) as (url, server):
        run(5, 0, "warmup")
        peak = run(20, 0, "max")
        target = peak["rps"] / 2
        # per connection: cycle = latency + delay = connections / rate
        delay = max(CONNECTIONS / target * 1000 - peak["p50_ms"] / 2, 0.0)
        minutes = []
        first_rss = None
        for minute in range(1, opts.minutes + 1):
            result = run(opts.segment, delay, f"soak{minute}")
            workers = workers_of(server.pid)
            rss = {"master": rss_mib(server.pid),
                   "workers": [round(rss_mib(p), 1) for p in workers]}
            first_rss = first_rss or rss
            minutes.append({"minute": minute, "rps": result["rps"], "p50_ms": result["p50_ms"],
                            "p99_ms": result["p99_ms"], "non_2xx": result["non_2xx"],
                            "socket_errors": result["socket_errors"], "delay_ms": round(delay, 2),
                            "worker_pids": workers, "rss_mib": rss})
            print(json.dumps(minutes[-1]), flush=True)
            cycle = CONNECTIONS / max(result["rps"], 1.0) * 1000
            delay = max(delay + CONNECTIONS / target * 1000 - cycle, 0.0)  # re-aim
    store = check_store(work / "store.db", acked_dir)
    worker_growth = [(b - a) / a for a, b in zip(first_rss["workers"], rss["workers"])]
    p99s = [m["p99_ms"] for m in minutes]
    summary = {
        "max_rps": peak["rps"], "target_rps": round(target, 1),
        "held_rps_median": statistics.median(m["rps"] for m in minutes),
        "p99_ms_by_minute": p99s, "p99_ms_median": statistics.median(p99s),
        "rss_mib_first_minute": first_rss, "rss_mib_last_minute": rss,
        "worker_rss_growth_max": max(worker_growth, default=0.0),
        "same_workers_throughout": minutes[0]["worker_pids"] == minutes[-1]["worker_pids"],
        "non_2xx": sum(m["non_2xx"] for m in minutes), **store}
    print(json.dumps(summary, indent=2))
    problems = []
    if store["missing"] or store["unscored"] or set(store["audit_rows_per_acknowledged"]) != {"1"}:
        problems.append("an acknowledged score is missing or not audited exactly once")
    if summary["worker_rss_growth_max"] >= 0.10:
        problems.append(f"worker RSS grew {summary['worker_rss_growth_max']:.1%} (limit 10%)")
    if problems:
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
