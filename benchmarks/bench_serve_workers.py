"""The booth's score latency under `southbound serve` of two checkouts (or options), side
by side.

Written for issue 26's slow-client fix (gunicorn sync workers before, threaded workers
with a receive deadline after): one model (trained here with the new checkout's code),
then rounds that alternate the checkouts' order; in each, for each checkout, a fresh
SQLite store and token, `southbound serve --workers 2` from that checkout
(``PYTHONPATH``), a warm-up, then wrk on POST /v1/score (bench_service.py's script):
8 connections paced 200 ms apart (the booth: about 40 scores/s in all), then unpaced.
Prints each run and the medians.

    make wrk
    git worktree add --detach ../old main
    .venv/bin/python benchmarks/bench_serve_workers.py --side old ../old \
        --side new . [--side new-4 . --threads 4] [--rounds 3]

(each ``--side NAME CHECKOUT`` may be followed by options of `southbound serve`).

``--reads N`` (issue 26's audited reads) adds N connections of consoles while the booth
scores, each paced ``--read-pause-ms`` apart: every other request a port's lane (50
crossings), the others a look-up of a crossing the booth scored (an unknown id before the
booth reaches it: a 404, audited too). The scores' figures are the booth's alone; the
reads' are printed beside them. ``--phases paced`` skips the unpaced run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import LUA, SB, free_port, prepare, require_wrk, wait_ready, wrk  # noqa


READS_LUA = r"""
-- consoles beside the booth: a port's lane, then a crossing the booth scored, in turn
local next_id = 0
local ports = {"2304", "2402", "2506", "2604", "2309", "2305"}
local pause = tonumber(os.getenv("SOUTHBOUND_BENCH_DELAY_MS") or "0")
setup = function(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
init = function(args)
  counter = 0
  math.randomseed(os.time() * 1000 + 77 + thread_id)
end
if pause > 0 then
  delay = function()
    return math.floor(pause + math.random())
  end
end
request = function()
  counter = counter + 1
  local path
  if counter % 2 == 1 then
    path = "/v1/crossings?port_code=" .. ports[math.random(1, #ports)] .. "&limit=50"
  else
    path = string.format("/v1/crossings/bench-%s-%d-%d", os.getenv("SOUTHBOUND_BENCH_RUN"),
                         math.random(0, 1), math.random(1, 60))
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " ..
                                  os.getenv("SOUTHBOUND_BENCH_TOKEN")})
end
"""


@contextlib.contextmanager
def beside(url, seconds, connections, script, env):
    """wrk on ``script`` in a thread while the body runs; yields a dict filled at the end."""
    import threading
    out = {}
    if not connections:
        yield out
        return
    worker = threading.Thread(target=lambda: out.update(
        wrk(url, seconds, connections, 1, script, env)))
    worker.start()
    try:
        yield out
    finally:
        worker.join()


@contextlib.contextmanager
def serving(env, args):
    """`southbound serve --workers 2 ARGS` on a free loopback port; yields its URL."""
    port = free_port()
    server = subprocess.Popen([SB, "serve", "--port", str(port), "--workers", "2", *args],
                              env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def one_run(side, checkout, args, env, work, seconds, reads=0, read_pause=250,
            phases=("paced", "unpaced")):
    """One checkout's server on a fresh store: {phase: wrk figures} (and ``reads``: the
    consoles' figures during the paced phase, when asked for)."""
    env = dict(env, PYTHONPATH=str(checkout),
               SOUTHBOUND_DATABASE_URL=f"sqlite:///{work / f'store-{side}.db'}")
    for suffix in ("", "-wal", "-shm", ".writelock"):
        Path(work / f"store-{side}.db{suffix}").unlink(missing_ok=True)
    token = subprocess.run([SB, "tokens", "create", "--role", "officer", "--name", "bench"],
                           env=env, check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    script = str(work / "score.lua")
    wrk_env = dict(os.environ, SOUTHBOUND_BENCH_TOKEN=token)
    out = {}
    with serving(env, args) as url:
        wrk(url, 3, 8, 2, script, dict(wrk_env, SOUTHBOUND_BENCH_RUN=f"{side}-warm"))
        run = dict(wrk_env, SOUTHBOUND_BENCH_RUN=f"{side}-{time.time_ns()}")
        if "paced" in phases:
            with beside(url, seconds, reads, str(work / "reads.lua"),
                        dict(run, SOUTHBOUND_BENCH_DELAY_MS=str(read_pause))) as consoles:
                out["paced"] = wrk(url, seconds, 8, 2, script,
                                   dict(run, SOUTHBOUND_BENCH_DELAY_MS="200"))
            if consoles:
                out["reads"] = consoles
        if "unpaced" in phases:
            out["unpaced"] = wrk(url, seconds, 8, 2, script, wrk_env)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--reads", type=int, default=0,
                        help="console connections reading beside the paced booth")
    parser.add_argument("--read-pause-ms", type=int, default=250)
    parser.add_argument("--phases", default="paced,unpaced")
    opts, rest = parser.parse_known_args()
    phases = tuple(opts.phases.split(","))
    sides = {}   # name: (checkout, serve options)
    while rest:
        if rest[0] != "--side" or len(rest) < 3:
            parser.error(f"expected --side NAME CHECKOUT [serve options], not {rest[:3]}")
        name, checkout, rest = rest[1], Path(rest[2]).resolve(), rest[3:]
        args = []
        while rest and rest[0] != "--side":
            args.append(rest.pop(0))
        sides[name] = (checkout, args)
    require_wrk()
    work = Path(tempfile.mkdtemp(prefix="southbound-workers-"))
    env, _ = prepare(work)
    # the run's own key pair (prepare made it under SOUTHBOUND_VAR), whatever the folder
    env["SOUTHBOUND_PUBLIC_KEY"] = str(work / "var" / "keys" / "signing.pub")
    (work / "score.lua").write_text(LUA)
    (work / "reads.lua").write_text(READS_LUA)
    runs = {name: [] for name in sides}
    for round_ in range(opts.rounds):
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        for side in order:
            result = one_run(side, *sides[side], env, work, opts.seconds, opts.reads,
                             opts.read_pause_ms, phases)
            runs[side].append(result)
            print(f"round {round_ + 1} {side}: " + "  ".join(
                f"{phase} {r['rps']:.0f}/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms"
                f" non-2xx {r['non_2xx']}" for phase, r in result.items()), flush=True)
    for side, results in runs.items():
        print(f"median {side}: " + "  ".join(
            f"{phase} {statistics.median(r[phase]['rps'] for r in results):.0f}/s "
            f"p50 {statistics.median(r[phase]['p50_ms'] for r in results):.1f} "
            f"p99 {statistics.median(r[phase]['p99_ms'] for r in results):.1f} ms"
            for phase in results[0]))
        print(f"paced p99 of each run {side}: "
              + " ".join(f"{r['paced']['p99_ms']:.1f}" for r in results if "paced" in r))


if __name__ == "__main__":
    main()
