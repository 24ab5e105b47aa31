"""Where a score's time goes, without a server: the WSGI app called directly.

Builds a store and a model like bench_service.py (a 60-day world, fresh SQLite), then
calls the Flask app as gunicorn does (a WSGI environ, a body stream), alternating
blocks of `GET /healthz` and `POST /v1/score` so both see the same machine, and prints
the median time per request of each over ``--rounds`` blocks. ``--profile`` adds a
cProfile of the score requests (top functions by own time).

    .venv/bin/python benchmarks/bench_inprocess.py [--rounds 5] [--requests 500] [--profile]

SOUTHBOUND_SQLITE_SYNCHRONOUS=NORMAL in the environment takes the commit's fsync out,
leaving the CPU cost.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import prepare  # noqa: E402

PORTS = ("2304", "2402", "2506", "2604", "2309", "2305")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500, help="requests per block")
    parser.add_argument("--profile", action="store_true")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="southbound-inprocess-"))
    env, token = prepare(work)
    os.environ.update({k: v for k, v in env.items() if k.startswith("SOUTHBOUND_")})
    from service import create_app
    app = create_app()
    rng = random.Random(0)
    counter = iter(range(1, 10**9))

    def body():
        n = next(counter)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1741100000 + 7 * n))
        return json.dumps({
            "crossing_id": f"inproc-{n}", "crossed_at": stamp, "direction": "outbound",
            "port_code": rng.choice(PORTS), "vehicle_class": "personal", "body_type": "sedan",
            "plate_id": f"P{rng.randint(1, 20000)}", "plate_jurisdiction": "US-TX",
            "vehicle_model_year": 2019, "registration_age_days": rng.randint(1, 2000),
            "occupants": rng.randint(1, 4)}).encode()

    statuses = []

    def call(method, path, data=b""):
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "wsgi.version": (1, 0), "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)), "HTTP_AUTHORIZATION": f"Bearer {token}",
            "HTTP_HOST": "127.0.0.1:8000", "REMOTE_ADDR": "127.0.0.1"}
        out = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(out)
        getattr(out, "close", lambda: None)()

    def score():
        call("POST", "/v1/score", body())

    def healthz():
        call("GET", "/healthz")

    def block(request):
        started = time.perf_counter()
        for _ in range(opts.requests):
            request()
        return (time.perf_counter() - started) / opts.requests * 1e6

    for _ in range(200):  # warm up: connections, caches, the port thresholds
        score()
        healthz()
    times = {"healthz": [], "score": []}
    for _ in range(opts.rounds):
        times["healthz"].append(block(healthz))
        times["score"].append(block(score))
    bad = [s for s in statuses if not s.startswith(("200", "201"))]
    if bad:
        sys.exit(f"non-2xx answers: {sorted(set(bad))}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"SQLite synchronous={os.environ.get('SOUTHBOUND_SQLITE_SYNCHRONOUS', 'FULL')}, "
          f"{opts.rounds} alternating blocks of {opts.requests} requests")
    for name, value in medians.items():
        print(f"{name:8s} {value:8.0f} us per request (blocks: "
              f"{', '.join(f'{t:.0f}' for t in times[name])})")
    print(f"score adds {medians['score'] - medians['healthz']:.0f} us over the trivial route; "
          f"in-process ratio {medians['healthz'] / medians['score']:.2f}")
    if opts.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(opts.requests * 2):
            score()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
