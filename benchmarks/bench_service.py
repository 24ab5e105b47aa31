"""Load test of the service: /v1/score against a trivial JSON route, same server, same run.

Starts `southbound serve` (gunicorn, 2 workers) on loopback with a fresh SQLite
store and a model trained on a small generated world, then drives it with wrk
(Debian package `wrk`) from a second process: GET /healthz, then POST /v1/score with
a new crossing each request (plates drawn from a pool, so history grows), then
/healthz again. Every wrk run is bounded in time. Prints throughput and latency.

    .venv/bin/python benchmarks/bench_service.py [--seconds 20] [--connections 8]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SB = str(Path(sys.executable).with_name("southbound"))

LUA = r"""
-- each request a new outbound crossing; plates from a pool so history grows.
-- thread_id and counter are per-thread globals (set from setup), not shared locals.
-- SOUTHBOUND_BENCH_T0 (epoch seconds) starts the crossings' clock, so consecutive runs
-- keep time moving forward; SOUTHBOUND_BENCH_DELAY_MS paces each connection.
local next_id = 0
local ports = {"2304", "2402", "2506", "2604", "2309", "2305"}
local bodies = {"sedan", "suv", "pickup", "van"}
local t0 = tonumber(os.getenv("SOUTHBOUND_BENCH_T0") or "1741100000")
local pause = tonumber(os.getenv("SOUTHBOUND_BENCH_DELAY_MS") or "0")
setup = function(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
init = function(args)
  counter = 0
  run_id = os.getenv("SOUTHBOUND_BENCH_RUN") or tostring(os.time())
  math.randomseed(os.time() * 1000 + thread_id)
end
if pause > 0 then
  -- whole milliseconds only: a fractional pause is met on average by random rounding
  delay = function()
    return math.floor(pause + math.random())
  end
end
request = function()
  counter = counter + 1
  local id = string.format("bench-%s-%d-%d", run_id, thread_id, counter)
  local secs = t0 + counter * 7 + thread_id
  local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", secs)
  local body = string.format(
    '{"crossing_id":"%s","crossed_at":"%s","direction":"outbound","port_code":"%s",' ..
    '"vehicle_class":"personal","body_type":"%s","plate_id":"P%d",' ..
    '"plate_jurisdiction":"US-TX","vehicle_model_year":2019,"registration_age_days":%d,' ..
    '"occupants":%d}',
    id, stamp, ports[math.random(1, #ports)], bodies[math.random(1, #bodies)],
    math.random(1, 20000), math.random(1, 2000), math.random(1, 4))
  return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("SOUTHBOUND_BENCH_TOKEN")}, body)
end
response = function(status, headers, body)
  if status ~= 201 then
    created_not = (created_not or 0) + 1
  end
  -- SOUTHBOUND_BENCH_ACKED: a folder where each thread lists the crossing_ids answered 2xx
  if status >= 200 and status < 300 and os.getenv("SOUTHBOUND_BENCH_ACKED") then
    if not acked then
      acked = io.open(string.format("%s/%s-%d.ids", os.getenv("SOUTHBOUND_BENCH_ACKED"),
                                    run_id, thread_id), "w")
      acked:setvbuf("line")
    end
    acked:write(body:match('"crossing_id":%s*"([^"]+)"'), "\n")
  end
end
"""


def require_wrk():
    """Stop with what to install when Debian's wrk is missing."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: make wrk (or apt-get install -y wrk)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"the service at {url} did not become ready")


def wrk(url, seconds, connections, threads, script=None, env=None):
    """Run wrk; return (requests/s, p50 ms, p99 ms, non-2xx count, errors)."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
            "--timeout", "5s"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, env=env,
                         timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    pct = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "p50_ms": _ms(pct["50"]), "p99_ms": _ms(pct["99"]),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else None}


def _ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def prepare(work):
    """A world, a model trained on it and an officer token in ``work``: (env, token)."""
    sb = SB
    env = dict(os.environ, SOUTHBOUND_DATABASE_URL=f"sqlite:///{work / 'store.db'}",
               SOUTHBOUND_REGISTRY=str(work / "registry"), SOUTHBOUND_LOG_LEVEL="WARNING",
               # one token sends everything here: a limit would turn scores into cheap 429s
               SOUTHBOUND_RATE_LIMIT_PER_MINUTE="0",
               # the run's own key pair: models are signed at training, verified at load
               SOUTHBOUND_VAR=str(work / "var"),
               # the service's key setting defaults to ./var/keys, not $SOUTHBOUND_VAR's
               SOUTHBOUND_PUBLIC_KEY=str(work / "var" / "keys" / "signing.pub"))
    subprocess.run([sb, "keys", "create", "--if-missing"], env=env, check=True,
                   capture_output=True)
    subprocess.run([sb, "generate", "--days", "60", "--seed", "5", "--out",
                    str(work / "world.csv")], env=env, check=True, capture_output=True)
    subprocess.run([sb, "train", "--data", str(work / "world.csv")], env=env, check=True,
                   capture_output=True)
    token = subprocess.run([sb, "tokens", "create", "--role", "officer", "--name", "bench"],
                           env=env, check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    return env, token


@contextlib.contextmanager
def serving(env, workers):
    """`southbound serve` on a free loopback port; yields (url, server process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([SB, "serve", "--port", str(port), "--workers", str(workers)],
                              env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(url)
        yield url, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    require_wrk()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-load-"))
    env, token = prepare(work)
    with serving(env, opts.workers) as (url, _):
        script = work / "score.lua"
        script.write_text(LUA)
        wrk_env = dict(os.environ, SOUTHBOUND_BENCH_TOKEN=token)
        wrk(url + "/healthz", 3, opts.connections, opts.threads)               # warm-up
        wrk(url, 3, opts.connections, opts.threads, str(script), wrk_env)       # warm-up
        runs = {}
        runs["healthz"] = wrk(url + "/healthz", opts.seconds, opts.connections, opts.threads)
        runs["score"] = wrk(url, opts.seconds, opts.connections, opts.threads, str(script),
                            wrk_env)
        runs["healthz_again"] = wrk(url + "/healthz", opts.seconds, opts.connections,
                                    opts.threads)
    trivial = (runs["healthz"]["rps"] + runs["healthz_again"]["rps"]) / 2
    print(f"{opts.workers} gunicorn workers, {opts.connections} connections, "
          f"{opts.seconds} s per run, SQLite store ({work})")
    for name, r in runs.items():
        print(f"{name:<14} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
              f"p99 {r['p99_ms']:6.2f} ms  non-2xx {r['non_2xx']}  socket errors "
              f"{r['socket_errors'] or 0}")
    print(f"score / trivial throughput: {runs['score']['rps'] / trivial:.2f} "
          f"(target >= 0.5); score p99 {runs['score']['p99_ms']:.1f} ms (target <= 15)")
    print(json.dumps({"ratio": runs["score"]["rps"] / trivial, **runs}))
    failed = {name: r["non_2xx"] for name, r in runs.items() if r["non_2xx"]}
    if failed:
        sys.exit(f"not a valid measurement: non-2xx answers {failed}")


if __name__ == "__main__":
    main()
