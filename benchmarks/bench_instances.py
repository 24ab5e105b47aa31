"""One and two `southbound serve` instances on one PostgreSQL: latency, throughput, rows.

Trains a model on a 60-day world (as bench_service.py), then for each configuration
(one instance, two instances; each gunicorn with ``--workers`` sync workers, all on one
registry folder and one fresh PostgreSQL database) drives every instance with its own
wrk process, the connections split between them: first a paced load (each connection
waits ``--delay-ms`` between requests), then an unpaced one that saturates the machine.
A new outbound crossing each request, plates from a pool of 20,000, so history grows
and crosses instances. After each configuration it counts the stored scores and audit
rows against the crossing ids wrk saw acknowledged.

Two wrk processes give two latency distributions; the p50 and p99 printed for two
instances are the larger of the two (a quantile of the whole lies between the two).
On 2 cores a second instance cannot add throughput: the figures show the overhead and
that the rows add up, not a speed-up.

    .venv/bin/python benchmarks/bench_instances.py [--seconds 15] [--repeat 2]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_service  # noqa: E402  (LUA, prepare, serving, wrk: the same set-up)


@contextlib.contextmanager
def database(admin_url):
    """A fresh PostgreSQL database next to ``admin_url``'s; yields its URL."""
    name = "sb_bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def drive(urls, seconds, connections, delay_ms, script, token, acked, label):
    """One wrk per instance at once, ``connections`` split between them; their results."""
    results = [None] * len(urls)

    def run(i, url):
        env = dict(os.environ, SOUTHBOUND_BENCH_TOKEN=token, SOUTHBOUND_BENCH_ACKED=str(acked),
                   SOUTHBOUND_BENCH_RUN=f"{label}-{i}", SOUTHBOUND_BENCH_DELAY_MS=str(delay_ms),
                   SOUTHBOUND_BENCH_T0=str(1741100000 + int(time.time()) % 1000000 * 10))
        results[i] = bench_service.wrk(url, seconds, max(connections // len(urls), 1),
                                       1, str(script), env)

    threads = [threading.Thread(target=run, args=(i, url)) for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rps": sum(r["rps"] for r in results),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "non_2xx": sum(r["non_2xx"] for r in results),
            "socket_errors": [r["socket_errors"] for r in results if r["socket_errors"]]}


def counts(url, acked):
    """(distinct ids acknowledged, ids acknowledged twice, scores stored, audit rows)."""
    ids = [line for path in acked.glob("*.ids") for line in path.read_text().split()]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM scores")).scalar()
        audited = conn.execute(sa.text("SELECT count(*) FROM audit WHERE action = 'score'")
                               ).scalar()
        missing = set(ids) - {r[0] for r in conn.execute(sa.text(
            "SELECT crossing_id FROM scores"))}
    engine.dispose()
    return {"acknowledged": len(set(ids)), "repeated": len(ids) - len(set(ids)),
            "scores": stored, "audit": audited, "acknowledged_not_stored": len(missing)}


def configuration(n, opts, env, work, label):
    """Paced and unpaced runs against ``n`` instances on a fresh database."""
    with database(opts.database) as url:
        env = dict(env, SOUTHBOUND_DATABASE_URL=url)
        token = subprocess.run([bench_service.SB, "tokens", "create", "--role", "officer",
                                "--name", "bench"], env=env, check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1]
        acked = work / f"acked-{label}"
        acked.mkdir()
        script = work / "score.lua"
        with contextlib.ExitStack() as stack:
            urls = [stack.enter_context(bench_service.serving(env, opts.workers))[0]
                    for _ in range(n)]
            drive(urls, 3, opts.connections, 0, script, token, acked, f"{label}-warm")
            paced = drive(urls, opts.seconds, opts.connections, opts.delay_ms, script, token,
                          acked, f"{label}-paced")
            unpaced = drive(urls, opts.seconds, opts.connections, 0, script, token, acked,
                            f"{label}-unpaced")
        rows = counts(url, acked)
    return {"instances": n, "paced": paced, "unpaced": unpaced, "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--delay-ms", type=float, default=80.0,
                        help="pause of each connection between requests in the paced run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL URL whose server gets a fresh database per run")
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    bench_service.require_wrk()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-instances-"))
    env, _ = bench_service.prepare(work)
    (work / "score.lua").write_text(bench_service.LUA)
    runs = []
    for r in range(opts.repeat):          # alternating, so a busy phase hits both
        for n in (1, 2):
            runs.append(configuration(n, opts, env, work, f"r{r}-n{n}"))
            result = runs[-1]
            print(f"{n} instance(s): paced {result['paced']['rps']:6.0f} req/s p50 "
                  f"{result['paced']['p50_ms']:6.1f} ms p99 {result['paced']['p99_ms']:6.1f} ms"
                  f" | unpaced {result['unpaced']['rps']:6.0f} req/s p99 "
                  f"{result['unpaced']['p99_ms']:6.1f} ms | rows {result['rows']}", flush=True)
    print(f"{opts.workers} sync workers per instance, {opts.connections} connections, paced "
          f"at {opts.delay_ms:g} ms per connection, {opts.seconds} s per run, PostgreSQL")
    for n in (1, 2):
        mine = [r for r in runs if r["instances"] == n]
        for phase in ("paced", "unpaced"):
            print(f"{n} instance(s) {phase:<8} median req/s "
                  f"{statistics.median(r[phase]['rps'] for r in mine):7.0f}  p50 "
                  f"{statistics.median(r[phase]['p50_ms'] for r in mine):6.1f} ms  p99 "
                  f"{statistics.median(r[phase]['p99_ms'] for r in mine):6.1f} ms")
    print(json.dumps(runs))
    bad = [r for r in runs if r["paced"]["non_2xx"] or r["unpaced"]["non_2xx"]
           or r["rows"]["repeated"] or r["rows"]["acknowledged_not_stored"]
           or not r["rows"]["scores"] == r["rows"]["audit"]]
    if bad:
        sys.exit(f"not a valid measurement: {len(bad)} run(s) with non-2xx answers or rows "
                 "that do not add up")


if __name__ == "__main__":
    main()
