"""A booth's score latency while analysts have model reports open.

Starts `southbound serve` (gunicorn, 2 sync workers, fresh SQLite store) with two models
in the registry and the last days of a generated world replayed into the store, then
sends one booth's `POST /v1/score` requests one after another (paced, a new crossing
each), first alone, then while two analysts each keep a report of a different model
open: each asks `GET /reports/<version>` every second and, once it has the page, has
it built again (its cached page is removed), so the reports are built over and over
all through the phase. Prints the score latency of both phases and the build times.

    .venv/bin/python benchmarks/bench_report_load.py [--seconds 30] [--sb PATH]

``--sb`` runs another checkout's `southbound` (e.g. one whose route builds the report
inside the worker), for a before/after figure on the same machine.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_service  # noqa: E402  (prepare, serving: the same set-up as the load test)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] \
        if values else float("nan")


def booth(port, token, seconds, rate, start_id):
    """Score one crossing after another for ``seconds``; returns latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, i = [], start_id
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        i += 1
        body = json.dumps({
            "crossing_id": f"booth-{i}", "direction": "outbound", "port_code": "2304",
            "crossed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                        time.gmtime(1746100000 + 13 * i)),
            "vehicle_class": "personal", "body_type": "pickup", "plate_id": f"B{i % 3000}",
            "plate_jurisdiction": "US-TX", "registration_age_days": 30, "occupants": 1})
        started = time.perf_counter()
        conn.request("POST", "/v1/score", body, {"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 201:
            sys.exit(f"score answered {response.status}")
        time.sleep(max(0.0, 1 / rate - latencies[-1] / 1000))
    return latencies


def analyst(port, token, version, stop, report_dir, builds):
    """Keep one report open: ask every second; once it is there, have it built again."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    asked = time.monotonic()
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", f"/reports/{version}", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        took = time.perf_counter() - started
        if response.status == 200:
            builds.append({"version": version, "ready_after_s": time.monotonic() - asked,
                           "request_s": took})
            for page in (report_dir.glob(f"{version}__*.html") if report_dir else ()):
                page.unlink(missing_ok=True)  # the next request builds it again
            asked = time.monotonic()
        elif response.status != 202:
            sys.exit(f"report answered {response.status}")
        stop.wait(1.0)


def token(sb, env, role):
    return subprocess.run([sb, "tokens", "create", "--role", role, "--name", f"bench-{role}"],
                          env=env, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def summary(latencies):
    return {"requests": len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0, help="booth scores per second")
    parser.add_argument("--sb", default=bench_service.SB, help="the southbound to serve")
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    bench_service.SB = opts.sb
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-reports-"))
    env, officer = bench_service.prepare(work)
    report_dir = work / "reports"
    env["SOUTHBOUND_REPORT_DIR"] = str(report_dir)
    subprocess.run([opts.sb, "train", "--data", str(work / "world.csv"), "--seed", "1"],
                   env=env, check=True, capture_output=True)
    versions = sorted(p.name for p in (work / "registry" / "versions").iterdir())
    subprocess.run([opts.sb, "replay", "--data", str(work / "world.csv"), "--since",
                    "2025-02-25", "--truth", str(work / "world.truth.csv")],
                   env=env, check=True, capture_output=True, cwd=work)
    analyst_token = token(opts.sb, env, "analyst")
    with bench_service.serving(env, 2) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        booth(port, officer, 3, opts.rate, 0)  # warm-up
        alone = booth(port, officer, opts.seconds, opts.rate, 10_000)
        stop, builds = threading.Event(), []
        readers = [threading.Thread(target=analyst, args=(port, analyst_token, v, stop,
                                                          report_dir, builds), daemon=True)
                   for v in versions[:2]]
        for reader in readers:
            reader.start()
        with_reports = booth(port, officer, opts.seconds, opts.rate, 20_000)
        stop.set()
        for reader in readers:
            reader.join(timeout=180)
    result = {"alone": summary(alone), "with_two_reports_open": summary(with_reports),
              "reports_ready": len(builds),
              "report_ready_after_s": statistics.median(b["ready_after_s"] for b in builds)
              if builds else None,
              "slowest_report_request_s": max((b["request_s"] for b in builds), default=None)}
    print(f"booth at {opts.rate:g} scores/s, {opts.seconds} s per phase, 2 gunicorn sync "
          f"workers, SQLite ({work}), {opts.sb}")
    for name in ("alone", "with_two_reports_open"):
        r = result[name]
        print(f"{name:<22} {r['requests']:5d} scores  p50 {r['p50_ms']:7.1f} ms  "
              f"p99 {r['p99_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms")
    print(f"reports served: {result['reports_ready']}, each ready (first ask to page) after "
          f"{result['report_ready_after_s'] or float('nan'):.1f} s (median)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
