"""The booth's latency with and without a challenger in shadow, side by side, paced.

Starts the service as bench_service.py does (gunicorn, 2 sync workers, fresh SQLite
store, a model trained on a generated world) with a second model registered (the same
world, another seed, one feature excluded: a real challenger). Measures the maximum
score throughput with wrk, then at half of it (per-connection delay, as the soak
paces) alternates runs without a shadow and with the challenger in shadow (set and
ended with ``southbound models shadow``; each run starts after the workers' check
interval), ``--rounds`` of each, and prints the median p50 and p99 of each side. At
the end it checks that every crossing scored in the shadow runs has its shadow score
and none of the others do, and measures in-process, over 2,000 real feature rows of the
world, what the challenger's score of one crossing costs beside the champion's score
with its contributions (median of 5 passes).

    .venv/bin/python benchmarks/bench_shadow.py [--rounds 4] [--seconds 20] [--rate 100]

Loopback only; every wrk run is bounded in time.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import LUA, SB, prepare, require_wrk, serving, wrk  # noqa: E402

CONNECTIONS, THREADS = 8, 2


def in_process_cost(work, registry, challenger, rows=2000, passes=5):
    """Median µs per crossing: the champion's score with contributions, the challenger's."""
    from scoring.contract import read_log
    from scoring.features import feature_frame
    from scoring.policy import PolicyConfig
    from service.holder import Challenger
    champion, _ = registry.load()
    shadow = Challenger(*registry.load(challenger))
    frame = read_log(work / "world.csv").frame
    feats = feature_frame(frame.iloc[-20000:]).head(rows)
    records = [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()}
               for r in feats.to_dict("records")]
    config = PolicyConfig()

    def timed(one):
        out = []
        for _ in range(passes):
            started = time.perf_counter()
            for record in records:
                one(record)
            out.append((time.perf_counter() - started) / len(records) * 1e6)
        return statistics.median(out)
    cost = {}
    for _ in range(2):  # interleaved, twice: the second pair is the one kept
        cost["champion_us"] = timed(lambda r: champion.calibrate_one(
            champion.explain_row(champion.vector(r))[0]))
        cost["challenger_us"] = timed(lambda r: shadow.score(r, "2304", config, 0))
    return cost


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float,
                        help="scores/s to pace at [default: half the measured maximum]")
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    require_wrk()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="southbound-shadow-"))
    env, token = prepare(work)
    env["SOUTHBOUND_MODEL_CHECK_SECONDS"] = "1"
    subprocess.run([SB, "train", "--data", str(work / "world.csv"), "--seed", "9",
                    "--exclude-feature", "plate_prior_seizures"], env=env, check=True,
                   capture_output=True)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models.registry import Registry
    registry = Registry(env["SOUTHBOUND_REGISTRY"])
    challenger = next(m["version"] for m in registry.versions()
                      if m["version"] != registry.active_version())
    script = work / "score.lua"
    script.write_text(LUA)
    clock = [1741100000]

    def run(seconds, delay_ms, label):
        wrk_env = {**env, "SOUTHBOUND_BENCH_TOKEN": token, "SOUTHBOUND_BENCH_RUN": label,
                   "SOUTHBOUND_BENCH_T0": str(clock[0]),
                   "SOUTHBOUND_BENCH_DELAY_MS": f"{delay_ms:.3f}"}
        result = wrk(url, seconds, CONNECTIONS, THREADS, str(script), wrk_env)
        clock[0] += 7 * (result["requests"] // THREADS + CONNECTIONS) + 60
        return result

    def shadow(*args):
        subprocess.run([SB, "models", "shadow", *args, "--actor", "bench"], env=env,
                       check=True, capture_output=True)
        time.sleep(2.5)  # every worker's next check (1 s) has passed

    with serving(env, opts.workers) as (url, _):
        run(5, 0, "warmup")
        peak = run(opts.seconds, 0, "max")
        target = opts.rate or peak["rps"] / 2
        delay = max(CONNECTIONS / target * 1000 - peak["p50_ms"] / 2, 0.0)
        runs = {"without": [], "with": []}
        labels = {"without": [], "with": []}
        for i in range(opts.rounds):
            for side in ("without", "with") if i % 2 == 0 else ("with", "without"):
                if side == "with":
                    shadow(challenger)
                label = f"{side}{i}"
                runs[side].append(run(opts.seconds, delay, label))
                labels[side].append(label)
                if side == "with":
                    shadow("--end")
                print(json.dumps({"run": label, **{k: runs[side][-1][k] for k in
                                                   ("rps", "p50_ms", "p99_ms", "non_2xx")}}),
                      flush=True)
    with sqlite3.connect(work / "store.db") as db:
        def counts(label):
            return db.execute(
                "SELECT count(*), count(h.crossing_id) FROM scores s LEFT JOIN shadow_scores h"
                " ON h.crossing_id = s.crossing_id WHERE s.crossing_id LIKE ?",
                (f"bench-{label}-%",)).fetchone()
        stored = {side: [counts(label) for label in labels[side]] for side in labels}
    summary = {"max_rps": peak["rps"], "target_rps": round(target, 1),
               "challenger": challenger, "seconds_per_run": opts.seconds,
               "rounds": opts.rounds,
               "in_process": in_process_cost(work, registry, challenger)}
    for side, results in runs.items():
        summary[side] = {
            "rps_median": statistics.median(r["rps"] for r in results),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in results),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in results),
            "p99_ms": [r["p99_ms"] for r in results],
            "non_2xx": sum(r["non_2xx"] for r in results),
            "scores_and_shadow_scores": stored[side]}
    print(json.dumps(summary, indent=2))
    print(f"paced at {target:.0f} req/s (maximum {peak['rps']:.0f}): p99 without a shadow "
          f"{summary['without']['p99_ms_median']:.1f} ms, with {challenger} in shadow "
          f"{summary['with']['p99_ms_median']:.1f} ms (medians of {opts.rounds} runs each); "
          f"in-process per crossing: champion {summary['in_process']['champion_us']:.0f} us, "
          f"challenger {summary['in_process']['challenger_us']:.0f} us")
    problems = []
    if any(n != s for n, s in stored["with"]):
        problems.append("a crossing scored with a shadow lacks its shadow score")
    if any(s for _, s in stored["without"]):
        problems.append("a crossing scored without a shadow has a shadow score")
    if summary["with"]["non_2xx"] or summary["without"]["non_2xx"]:
        problems.append("non-2xx answers")
    if problems:
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
