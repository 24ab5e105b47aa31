"""Faults against the real thing (`southbound serve`, gunicorn, 2 workers), under load.

- A worker killed with SIGKILL mid-traffic (SQLite): gunicorn replaces it; every score
  acknowledged is stored exactly once with its score row and one audit row, and a
  request cut off by the kill, sent again with the same crossing_id, is never stored
  twice.
- The database stopped mid-traffic (a private PostgreSQL cluster, never the shared
  one; `pg_ctl stop -m immediate` and `-m fast`): /readyz and /v1/score answer 503
  with the JSON error, quickly, never 500; /healthz stays 200; when the database comes
  back the service resumes by itself, and every acknowledged score is stored once.
- The database hung (postmaster stopped with SIGSTOP, its sessions ended): the same,
  within the store's connect timeout rather than gunicorn's worker timeout.

Each test appends its figures to tests/output/faults.log.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.helpers.browser import serve
from tests.helpers.pg import children

#: no request may take longer than this, fault or not (a booth cannot wait)
SLOW = 5.0
SERVER_ENV = {"SOUTHBOUND_RATE_LIMIT_PER_MINUTE": "0", "SOUTHBOUND_LOG_LEVEL": "INFO",
              "SOUTHBOUND_TOKEN_CACHE_SECONDS": "1"}


def outbound(crossing_id, i):
    return {"crossing_id": crossing_id, "crossed_at": f"2025-03-04T{8 + i // 3600 % 12:02d}:"
            f"{i // 60 % 60:02d}:{i % 60:02d}-06:00", "direction": "outbound",
            "port_code": ("2304", "2402", "2506")[i % 3], "vehicle_class": "personal",
            "body_type": "pickup", "plate_id": f"P{i % 50}", "plate_jurisdiction": "US-TX",
            "vehicle_model_year": 2020, "registration_age_days": 12 + i % 300, "occupants": 1}


def request(url, method="GET", body=None, token=None, timeout=10.0):
    """(status, parsed JSON or text, seconds); status None when the connection failed
    (refused, reset, closed without an answer, timed out)."""
    parts = urlsplit(url)
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, parts.path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        status, text = response.status, response.read().decode()
    except (OSError, http.client.HTTPException) as exc:
        return None, repr(exc), time.monotonic() - started
    finally:
        conn.close()
    try:
        return status, json.loads(text), time.monotonic() - started
    except ValueError:
        return status, text, time.monotonic() - started


def assert_error_shape(answer, code=None):
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    assert set(answer["error"]) == {"code", "message", "field"}, answer
    assert answer["error"]["message"], answer
    if code is not None:
        assert answer["error"]["code"] == code, answer


@dataclass
class Sent:
    crossing_id: str
    status: int | None       # final answer (after a retry of a cut-off request)
    seconds: float
    at: float                # monotonic time the last attempt ended
    attempts: int = 1
    answer: object = None


@dataclass
class Load:
    """Client threads scoring unique crossings until stopped; a request cut off at the
    connection level is sent again once with the same crossing_id, as a booth would."""
    url: str
    token: str
    prefix: str
    threads: int = 4
    retry: bool = True
    pause: float = 0.0
    timeout: float = 10.0
    sent: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, t):
        i = 0
        while not self.stop.is_set():
            n = t * 1_000_000 + i
            crossing_id = f"{self.prefix}-{t}-{i}"
            body = outbound(crossing_id, n)
            status, answer, seconds = request(self.url + "/v1/score", "POST", body, self.token,
                                              self.timeout)
            attempts = 1
            if status is None and self.retry:
                time.sleep(0.05)
                status, answer, more = request(self.url + "/v1/score", "POST", body, self.token)
                seconds += more
                attempts = 2
            with self.lock:
                self.sent.append(Sent(crossing_id, status, seconds, time.monotonic(),
                                      attempts, answer))
            i += 1
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        self.workers = [threading.Thread(target=self._run, args=(t,), daemon=True)
                        for t in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for w in self.workers:
            w.join(timeout=30)
        assert not any(w.is_alive() for w in self.workers), "a client thread hung"

    def snapshot(self):
        with self.lock:
            return list(self.sent)

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate(self.snapshot()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)


def flock_holder(path):
    """The pid holding a flock on ``path`` (from /proc/locks), or None."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" \
                and int(fields[5].rsplit(":", 1)[-1]) == inode:
            return int(fields[4])
    return None


def workers_of(master, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = children(master)
        if len(found) == count:
            return found
        assert time.monotonic() < deadline, f"master {master} has workers {found}"
        time.sleep(0.05)


def stored_counts(rows):
    counts = {}
    for (crossing_id,) in rows:
        counts[crossing_id] = counts.get(crossing_id, 0) + 1
    return counts


def check_store(sent, prefix, query):
    """Every acknowledged crossing stored once with one score and one audit row; nothing
    stored twice; nothing stored that was never sent. ``query(sql)`` returns rows."""
    like = f"{prefix}-%"
    crossings = stored_counts(query(f"SELECT crossing_id FROM crossings "
                                    f"WHERE crossing_id LIKE '{like}'"))
    scores = stored_counts(query(f"SELECT crossing_id FROM scores "
                                 f"WHERE crossing_id LIKE '{like}'"))
    audits = stored_counts(query(f"SELECT target FROM audit WHERE action = 'score' "
                                 f"AND target LIKE '{like}'"))
    acknowledged = {s.crossing_id for s in sent if s.status in (200, 201)}
    every = {s.crossing_id for s in sent}
    lost = sorted(c for c in acknowledged
                  if crossings.get(c) != 1 or scores.get(c) != 1 or audits.get(c) != 1)
    duplicated = sorted(c for c in set(crossings) | set(scores) | set(audits)
                        if max(crossings.get(c, 0), scores.get(c, 0), audits.get(c, 0)) > 1)
    partial = sorted(c for c in set(crossings) | set(scores) | set(audits)
                     if not crossings.get(c) == scores.get(c) == audits.get(c) == 1)
    unknown = sorted(set(crossings) - every)
    assert not lost, f"acknowledged but not stored once with score and audit: {lost[:10]}"
    assert not duplicated, f"stored more than once: {duplicated[:10]}"
    assert not partial, f"crossing, score and audit not all stored together: {partial[:10]}"
    assert not unknown, f"stored but never sent: {unknown[:10]}"
    return {"stored": len(crossings), "acknowledged": len(acknowledged), "lost": len(lost),
            "duplicated": len(duplicated)}


def count_statuses(sent, allowed):
    """{status: count} of the answers; every status must be one of ``allowed``."""
    statuses = {}
    for s in sent:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    assert set(statuses) <= allowed, (statuses, [s.answer for s in sent
                                                 if s.status not in allowed][:5])
    return statuses


def report(name, figures):
    line = f"[faults] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    print(line)
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    with open(out / "faults.log", "a") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")


# --- 1. a worker killed with SIGKILL -----------------------------------------------


def test_a_worker_killed_mid_traffic_loses_and_duplicates_nothing(tmp_path, registry_path):
    started = time.monotonic()
    with serve(tmp_path, registry_path, workers=2, env=SERVER_ENV) as live:
        up = time.monotonic() - started
        token = live.tokens["officer"]
        before = workers_of(live.pid, 2)
        with Load(live.url, token, "kill") as load:
            load.wait_for(lambda s: sum(x.status == 201 for x in s) >= 30, 20,
                          "30 scores before the kill")
            # aim at a worker inside its write transaction: the store's write lock
            # (a flock across the workers) names the writer in /proc/locks
            victim, lock = None, tmp_path / "store.db.writelock"
            aim_until = time.monotonic() + 5
            while victim is None and time.monotonic() < aim_until:
                holder = flock_holder(lock)
                victim = holder if holder in before else None
            mid_write = victim is not None
            victim = victim or min(before)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            # gunicorn reaps the dead worker and boots another
            deadline = killed_at + 25
            while not (len(now := children(live.pid)) == 2 and now - before):
                assert time.monotonic() < deadline, f"worker {victim} was not replaced"
                time.sleep(0.05)
            replaced_after = time.monotonic() - killed_at
            # keep going until the new worker has booted (its app loads the model) and
            # scores arrive after the replacement
            mark = time.monotonic()
            load.wait_for(lambda s: sum(x.at > mark + 1.0 and x.status == 201
                                        for x in s) >= 10, 20, "scores after the replacement")
        sent = load.snapshot()

        # the server keeps answering
        status, answer, _ = request(live.url + "/readyz")
        assert status == 200, answer
        status, answer, _ = request(live.url + "/v1/score", "POST",
                                    outbound("after-kill", 7), token)
        assert status == 201, answer
        log = live.log.read_text()

    # a request cut off by the kill and sent again is answered 201 (the kill came
    # before the commit) or 200 (after: the stored answer); any other answer is a bug
    statuses = count_statuses(sent, allowed={200, 201})
    assert all(s.attempts == 2 for s in sent if s.status == 200), \
        "a first attempt was answered as a repeat"
    assert max(s.seconds for s in sent) < 15, "a request hung"
    assert "unexpected error" not in log, log[-3000:]
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as db:
        figures = check_store(sent, "kill", lambda sql: db.execute(sql).fetchall())
    figures = {"sent": len(sent), "statuses": statuses,
               "killed_holding_write_lock": mid_write,
               "cut_off": sum(s.attempts == 2 for s in sent), **figures,
               "worker_replaced_s": round(replaced_after, 2), "startup_s": round(up, 1),
               "runtime_s": round(time.monotonic() - started, 1)}
    report("sigkill", figures)


# --- 2. PostgreSQL stopped, or hung, and back again -----------------------------------

def outage(live, load, since, bound, timeout=20):
    """During the fault: /readyz 503 `not_ready` and /v1/score 503 `store_unavailable`,
    each within ``bound`` seconds, never anything else; /healthz 200 throughout."""
    seen = {"readyz": False, "score": False}
    probes = []
    deadline = since + timeout
    while True:
        status, answer, seconds = request(live.url + "/readyz", timeout=bound + 10)
        probes.append(("readyz", status, round(seconds, 3)))
        assert seconds < bound, f"/readyz took {seconds:.1f} s in the outage"
        assert status in (200, 503), (status, answer)
        if status == 503:
            assert_error_shape(answer, "not_ready")
            seen["readyz"] = True
        # sync workers waiting on the database hold /healthz up too, at most as long
        status, answer, seconds = request(live.url + "/healthz", timeout=bound + 10)
        assert status == 200 and seconds < bound, (status, answer, seconds)
        seen["score"] = sum(x.at > since and x.status == 503 for x in load.snapshot()) >= 3
        if all(seen.values()):
            break
        assert time.monotonic() < deadline, f"no 503 in the outage: {seen} {probes[-5:]}"
        time.sleep(0.1)
    for s in load.snapshot():
        assert s.seconds < bound, f"a score took {s.seconds:.1f} s in the outage"
        if s.status == 503:
            assert_error_shape(s.answer, "store_unavailable")


def recovery(live, load, since, timeout=20):
    """After the fault ends, without a restart: /readyz 200 and scores 201 again; then
    only 201s (no stale pooled connection left over). Returns (ready after, scored
    after, the time from which only 201s are expected)."""
    deadline = since + timeout
    while True:
        status, answer, seconds = request(live.url + "/readyz")
        assert seconds < SLOW
        if status == 200:
            ready_after = time.monotonic() - since
            break
        assert status == 503, (status, answer)
        assert time.monotonic() < deadline, f"not ready again: {answer}"
        time.sleep(0.1)
    load.wait_for(lambda s: any(x.at > since and x.status == 201 for x in s),
                  max(0.1, deadline - time.monotonic()), "a score after the recovery")
    scored_after = min(x.at for x in load.snapshot()
                       if x.at > since and x.status == 201) - since
    settled = time.monotonic() + 1.0
    load.wait_for(lambda s: sum(x.at > settled and x.status == 201 for x in s) >= 10,
                  15, "10 scores after the recovery")
    return ready_after, scored_after, settled


def check_pg_run(name, live, load, cluster, fault_at, restored_at, settled, bound,
                 ready_after, scored_after, started, up, **extra):
    sent = load.snapshot()
    status, answer, _ = request(live.url + "/readyz")
    assert status == 200, answer
    log = live.log.read_text()
    statuses = count_statuses(sent, allowed={201, 503})
    assert not [s for s in sent if s.at < fault_at - 0.5 and s.status != 201]
    assert not [s for s in sent if s.at > settled and s.status != 201]
    slowest = max(s.seconds for s in sent)
    assert slowest < bound, f"a score took {slowest:.1f} s"
    assert "unexpected error" not in log, log[-3000:]
    engine = sa.create_engine(cluster.url)
    try:
        with engine.connect() as conn:
            figures = check_store(sent, "pg", lambda sql: conn.execute(sa.text(sql)).all())
    finally:
        engine.dispose()
    report(name, {**extra, "sent": len(sent), "statuses": statuses, **figures,
                  "503_after_restore": sum(s.at > restored_at and s.status == 503
                                           for s in sent),
                  "slowest_s": round(slowest, 2), "ready_after_restore_s": round(ready_after, 2),
                  "scored_after_restore_s": round(scored_after, 2),
                  "startup_s": round(up, 1),
                  "runtime_s": round(time.monotonic() - started, 1)})


@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_the_database_stopped_mid_traffic_gives_503_and_the_service_resumes(
        tmp_path, registry_path, private_pg, mode):
    started = time.monotonic()
    with serve(tmp_path, registry_path, workers=2, env=SERVER_ENV,
               database_url=private_pg.url) as live:
        up = time.monotonic() - started
        workers = workers_of(live.pid, 2)
        with Load(live.url, live.tokens["officer"], "pg", threads=2, retry=False,
                  pause=0.01) as load:
            load.wait_for(lambda s: sum(x.status == 201 for x in s) >= 20, 20,
                          "20 scores before the stop")
            # the fault begins when pg_ctl asks the server to stop: a fast shutdown ends
            # sessions before pg_ctl returns (0.7 s before it on a loaded machine)
            stop_began = time.monotonic()
            private_pg.stop(mode)
            stopped_at = time.monotonic()
            outage(live, load, stopped_at, SLOW)
            outage_s = time.monotonic() - stopped_at
            private_pg.start()
            restarted_at = time.monotonic()
            ready_after, scored_after, settled = recovery(live, load, restarted_at)
        assert children(live.pid) == workers, "a worker died or was killed for a timeout"
        check_pg_run("postgresql-stopped", live, load, private_pg, stop_began, restarted_at,
                     settled, SLOW, ready_after, scored_after, started, up, mode=mode,
                     outage_s=round(outage_s, 1))


def test_a_server_started_while_the_database_is_down_comes_up_by_itself(
        tmp_path, registry_path, private_pg):
    """Workers that boot with the database down (a restart in an outage) still boot:
    /healthz 200, /readyz and /v1/score 503 with the JSON error; once the database is
    back, the schema is migrated and scores are stored, with no restart."""
    with serve(tmp_path, registry_path, workers=2, env=SERVER_ENV,
               database_url=private_pg.url, before_start=private_pg.stop,
               ready=False) as live:
        workers = workers_of(live.pid, 2)
        status, answer, _ = request(live.url + "/readyz")
        assert status == 503, answer
        assert_error_shape(answer, "not_ready")
        for i in range(4):  # both workers
            status, answer, seconds = request(live.url + "/v1/score", "POST",
                                              outbound(f"boot-{i}", i), live.tokens["officer"])
            assert status == 503 and seconds < SLOW, (status, answer)
            assert_error_shape(answer, "store_unavailable")
        private_pg.start()
        ready_after = None
        started = time.monotonic()
        while ready_after is None:
            status, answer, _ = request(live.url + "/readyz")
            if status == 200:
                ready_after = time.monotonic() - started
            assert time.monotonic() - started < 20, answer
            time.sleep(0.1)
        answered = [request(live.url + "/v1/score", "POST", outbound(f"boot-{i}", i),
                            live.tokens["officer"])[0] for i in range(10, 20)]
        assert answered == [201] * 10
        assert children(live.pid) == workers, "a worker died"
        assert "unexpected error" not in live.log.read_text()
    report("postgresql-down-at-start", {"workers": 2, "scored_after_return": 10,
                                        "ready_after_return_s": round(ready_after, 2)})


def test_a_hung_database_gives_503_within_the_connect_timeout(tmp_path, registry_path,
                                                              private_pg):
    """The server accepts TCP connections but never answers (postmaster stopped, its
    sessions ended): a connection attempt gives up after the store's connect timeout
    instead of holding the worker until gunicorn kills it."""
    from service.store import PG_CONNECT_TIMEOUT
    bound = PG_CONNECT_TIMEOUT + SLOW
    started = time.monotonic()
    with serve(tmp_path, registry_path, workers=2, env=SERVER_ENV,
               database_url=private_pg.url) as live:
        up = time.monotonic() - started
        workers = workers_of(live.pid, 2)
        with Load(live.url, live.tokens["officer"], "pg", threads=2, retry=False,
                  pause=0.01, timeout=bound + 10) as load:
            load.wait_for(lambda s: sum(x.status == 201 for x in s) >= 20, 20,
                          "20 scores before the hang")
            private_pg.freeze()
            frozen_at = time.monotonic()
            try:
                outage(live, load, frozen_at, bound, timeout=bound * 3)
            finally:
                outage_s = time.monotonic() - frozen_at
                private_pg.thaw()
            thawed_at = time.monotonic()
            ready_after, scored_after, settled = recovery(live, load, thawed_at)
        assert children(live.pid) == workers, "a worker died or was killed for a timeout"
        check_pg_run("postgresql-hung", live, load, private_pg, frozen_at, thawed_at,
                     settled, bound, ready_after, scored_after, started, up,
                     connect_timeout_s=PG_CONNECT_TIMEOUT, outage_s=round(outage_s, 1))
