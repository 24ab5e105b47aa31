"""The model report: every section on one offline page, PSI, the outcome test, CLI and API."""
import base64
import os
import re
import time

import numpy as np
import pandas as pd
import pytest

from service import report_jobs
from southbound.cli import main
from tests.helpers.logs import log, row
from tests.helpers.replay import replay
from tests.helpers.service import outbound
from scoring.policy import PolicyConfig
from training.evaluate import Labels
from training.monitoring import (FEW_SEIZURES, capacity_picks, outcome_table, psi,
                                 referral_source, referral_table)
from training.report import build_report
from training.report_plots import escape

SECTIONS = ("Model card", "Budget curves", "Calibration", "Feature importance", "Drift",
            "Who this model would refer, by plate country",
            "Who this model would refer, by port",
            "Outcome test of the policy in force, by port",
            "Outcome test of the policy in force, by plate country")
PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def switched_off(world_frame):
    """(model, manifest) trained on the small world with plate jurisdiction switched off."""
    from training.fit import TrainConfig, train
    return train(world_frame, TrainConfig(exclude=("plate_jurisdiction",)),
                 progress=lambda m: None)


@pytest.fixture(scope="module")
def page(switched_off, trained, world_frame):
    """The report on the switched-off model, with the default model as the one in service."""
    return build_report(*switched_off, world_frame, active=trained)


def section(html, key):
    return re.search(rf'<section id="{key}">(.*?)</section>', html, re.S).group(1)


def test_the_page_has_every_section_and_needs_nothing_from_outside(page):
    for heading in SECTIONS:
        assert f"<h2>{heading}" in page, heading
    images = PNG.findall(page)
    assert len(images) >= 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert "PSI" in section(page, "drift") and "<table>" in section(page, "drift")
    assert "model in service" in section(page, "budget")


def test_the_model_card_shows_the_switched_off_features(page, switched_off):
    card = section(page, "card")
    manifest = switched_off[1]
    assert manifest["excluded_features"] == ["plate_country", "plate_jurisdiction"]
    off = card.split("Features switched off", 1)[1].split("</p>", 1)[0]
    assert "<code>plate_country</code>" in off and "<code>plate_jurisdiction</code>" in off
    used = card.split("Features used", 1)[1].split("</ul>", 1)[0]
    assert "plate_jurisdiction" not in used and "registration_age_days" in used
    assert "Intended use" in card and "Known limits" in card


@pytest.mark.parametrize("categorical", [False, True], ids=["numeric", "categorical"])
def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shifted_one(categorical):
    rng = np.random.default_rng(0)

    def draw(shift):
        if categorical:
            shares = [.2, .7, .1] if shift else [.6, .3, .1]
            return rng.choice(["US", "MX", "UNK"], size=20000, p=shares)
        return rng.normal(1.0 if shift else 0.0, size=20000)
    base, same, shifted = draw(False), draw(False), draw(True)
    assert psi(base, base, categorical=categorical) == 0.0
    assert psi(base, same, categorical=categorical) < 0.01
    assert psi(base, shifted, categorical=categorical) > 0.2


def test_psi_counts_missing_values_and_new_categories_as_drift():
    x = np.arange(1000.0)
    assert psi(x, np.where(x < 300, np.nan, x)) > 0.2
    assert psi(["a"] * 500 + ["b"] * 500, ["a"] * 500 + ["c"] * 500, categorical=True) > 0.2


def _referred(port, n, seizures, referral="officer", probability="0.05"):
    return [row(crossing_id=f"{port}-{referral}-{probability}-{i}", port_code=port, plate_id=f"p{port}{i}",
                referral=referral, selection_probability=probability, inspected="true",
                seizure="true" if i < seizures else "false") for i in range(n)]


def test_small_cells_are_suppressed_and_a_low_hit_rate_is_flagged():
    rows = (_referred("2304", 200, 0) + _referred("2402", 200, 50)
            + _referred("2506", 5, 5) + _referred("2304", 30, 30, "officer", "1"))
    outbound = log(rows)
    assert set(referral_source(outbound)) == {"officer", "lookout"}
    cells = {(c["group"], c["source"]): c for c in
             outcome_table(outbound, outbound["port_code"].to_numpy(), min_cell=20)}
    small = cells[("2506", "officer")]
    assert small["suppressed"] and set(small) == {"group", "source", "outbound", "suppressed"}
    assert cells[("2402", "lookout")]["suppressed"]
    low, high = cells[("2304", "officer")], cells[("2402", "officer")]
    assert low["hit_rate"] == 0 and high["hit_rate"] == 0.25
    assert (low["seizures"], high["seizures"]) == (0, 50)
    assert low["below_others"] and not high["below_others"]
    assert high["hit_rate_lo"] < 0.25 < high["hit_rate_hi"]
    assert cells[("2304", "lookout")]["hit_rate"] == 1.0


def test_the_page_never_shows_a_figure_for_a_small_cell(trained, world_frame):
    html = build_report(*trained, world_frame, min_cell=10 ** 6)
    for key in ("outcome-port", "outcome-country"):
        body = section(html, key)
        assert "n &lt; 1000000" in body
        assert "[" not in body and "%" not in body.split("<table>", 1)[1]
    for key in ("referrals-port", "referrals-country"):  # counts and rates, no estimate
        body = section(html, key).split("<tbody>", 1)[1]
        assert "n &lt; 1000000" in body and "[" not in body


def test_capacity_picks_take_each_ports_own_share():
    rng = np.random.default_rng(0)
    ports = np.array(["2304"] * 1000 + ["2402"] * 500, dtype=object)
    scores = rng.random(1500)
    policy = PolicyConfig(default_capacity=0.02, capacity={"2304": 0.05})
    picks = capacity_picks(scores, ports, policy.capacity_of)
    assert picks[:1000].sum() == 50 and picks[1000:].sum() == 10
    assert scores[:1000][picks[:1000]].min() >= np.sort(scores[:1000])[-50]


def _labelled(rows):
    """Labels of a log built from (group, selection probability, inspected, seizure)."""
    outbound = log([row(crossing_id=f"c{i}", plate_id=f"p{i}", referral="random",
                        selection_probability=str(pi), inspected=str(insp).lower(),
                        seizure="" if not insp else str(seized).lower())
                    for i, (_, pi, insp, seized) in enumerate(rows)])
    return Labels(outbound, outbound["selection_probability"].to_numpy(float))


def test_the_referral_table_estimates_catch_and_hit_rate_from_weighted_inspections():
    # group A: 4 inspected picks (2 seizures at pi .5, 2 clean at pi .25), 2 unpicked
    rows = ([("A", .5, True, True)] * 2 + [("A", .25, True, False)] * 2
            + [("A", .5, True, True)] * 2 + [("B", .5, True, False)] * 3)
    labels = _labelled(rows)
    groups = np.array([g for g, *_ in rows], dtype=object)
    picked = np.array([True] * 4 + [False] * 2 + [True] * 3)
    cells = {(c["group"], c["policy"]): c
             for c in referral_table(labels, groups, {"p": picked}, min_cell=3)}
    a = cells[("A", "p")]
    assert (a["outbound"], a["referred"], a["inspected"], a["seizures"]) == (6, 4, 4, 2)
    assert a["referral_rate"] == pytest.approx(4 / 6)
    assert a["estimated_seizures"] == pytest.approx(2 * 2)                # sum of y / pi
    assert a["hit_rate"] == pytest.approx(4 / (2 * 2 + 2 * 4))            # Hajek: 4 / 12
    assert a["recall"] == pytest.approx(4 / 8)
    assert a["hit_rate_lo"] <= a["hit_rate"] <= a["hit_rate_hi"] <= 1
    assert a["few_seizures"] and FEW_SEIZURES > 2
    assert cells[("B", "p")]["hit_rate"] == 0 and cells[("all", "p")]["referred"] == 7
    small = referral_table(labels, groups, {"p": picked}, min_cell=5)
    assert all(c["suppressed"] and "hit_rate" not in c for c in small if c["group"] == "A")


def test_who_would_be_referred_follows_the_model_under_review(trained, world_frame):
    """The referral sections describe the scores of the model in the report, not the log's
    referrals: a model that ranks crossings the other way round refers other crossings,
    while the policy in force's rows stay as they were."""
    model, manifest = trained

    class Reversed:
        def __getattr__(self, name):
            return getattr(model, name)

        def predict_proba(self, X):
            p = model.predict_proba(X)
            return p[:, ::-1]

    def rows(html, key, policy):
        body = section(html, key).split("<tbody>", 1)[1]
        return [r for r in body.split("<tr>") if f"<td>{policy}</td>" in r]
    straight = build_report(model, manifest, world_frame, min_cell=1)
    flipped = build_report(Reversed(), manifest, world_frame, min_cell=1)
    for key in ("referrals-country", "referrals-port"):
        assert rows(straight, key, "policy in force") == rows(flipped, key, "policy in force")
        assert rows(straight, key, "this model") != rows(flipped, key, "this model")


def test_the_referral_sections_say_which_plate_features_are_off(page, trained, world_frame):
    for key in ("referrals-country", "referrals-port"):
        body = section(page, key)
        assert "does <b>not</b> see where the plate was issued" in body
        assert "<code>plate_country</code>, <code>plate_jurisdiction</code>" in body
    assert "features switched off: plate_country, plate_jurisdiction" in page
    on = build_report(*trained, world_frame)
    assert "This model sees where the plate was issued" in section(on, "referrals-country")
    # a model at the defaults leaves vehicle_make out (training.config.DEFAULT_EXCLUDED)
    assert "features switched off: vehicle_make" in on


def test_report_command_writes_the_page(runner, registry_path, world, tmp_path):
    out = tmp_path / "report.html"
    policy = tmp_path / "policy.toml"
    policy.write_text("default_capacity = 0.05\n")
    result = runner.invoke(main, ["report", "--registry", str(registry_path),
                                  "--data", str(world[0]), "--out", str(out),
                                  "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and len(PNG.findall(html)) >= 5
    assert "capacity (5.0% of outbound traffic here)" in section(html, "referrals-port")


def test_report_command_gives_one_line_and_exit_2_for_bad_data(runner, registry_path, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame([row(crossing_id="a"), row(crossing_id="b", port_code="23O4")]).to_csv(
        bad, index=False)
    result = runner.invoke(main, ["report", "--registry", str(registry_path), "--data", str(bad),
                                  "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.output == (f"error: {bad}, row 3, column port_code: "
                             "value '23O4' is not a 4-digit port code\n")
    result = runner.invoke(main, ["report", "--registry", str(registry_path), "--data", str(bad),
                                  "--since", "2030-01-01"])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def _recent_traffic(world, manifest, before=150, after=250):
    """Rows of the world's log around the model's validation window, as the API gets them."""
    text = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    start = pd.Timestamp(manifest["data"]["windows"]["validate_from"])
    first = int((pd.to_datetime(text["crossed_at"], utc=True, format="ISO8601") < start).sum())
    return text.iloc[first - before:first + after]


def _replay_recent(client, auth, world, manifest):
    from service.replay import truth_outcome
    truth = pd.read_csv(world[1], dtype={"crossing_id": str})
    outcome = truth_outcome(dict(zip(truth["crossing_id"], zip(
        truth["carrier"].astype(str).str.lower() == "true", truth["firearms"], truth["rounds"],
        truth["currency_usd"]))))
    replay(client, auth["officer"], _recent_traffic(world, manifest), outcome)


def _until_built(client, path, headers, timeout=180.0):
    """Ask again, as Retry-After says, until the answer is not a 202 (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path, headers=headers)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.25)  # polling, shorter than Retry-After: the test waits, not the API


@pytest.fixture
def no_build_here(monkeypatch):
    """Any report built in this (the request worker's) process fails the test."""
    import sys

    import training.report
    original = training.report.build_report

    def refuse(*args, **kwargs):
        raise AssertionError("a report was built inside a request worker")
    for module in list(sys.modules.values()):  # wherever it was imported by name too
        if getattr(module, "build_report", None) is original:
            monkeypatch.setattr(module, "build_report", refuse)
    monkeypatch.setattr(report_jobs, "build", refuse)


def test_no_report_is_built_inside_a_request_worker(app, client, auth, world, trained,
                                                    no_build_here):
    _replay_recent(client, auth, world, trained[1])
    version = app.extensions["southbound.models"].current().version
    path, jobs = f"/reports/{version}", app.extensions["southbound.reports"]
    first = client.get(path, headers=auth["analyst"])
    assert first.status_code == 202, first.get_data(as_text=True)[:500]
    assert int(first.headers["Retry-After"]) >= 1 and first.json["status"] == "building"
    builders = [child.pid for child in jobs.children]
    assert len(builders) == 1 and builders[0] != os.getpid()
    assert client.get(path, headers=auth["admin"]).status_code in (200, 202)
    assert len(jobs.children) <= 1  # asking again while it builds starts no second build
    response = _until_built(client, path, auth["analyst"])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for heading in SECTIONS:
        assert f"<h2>{heading}" in html, heading
    assert len(PNG.findall(html)) >= 4 and "https://" not in html
    # one more score the same day: the same page, served at once (not keyed by row counts)
    last = _recent_traffic(world, trained[1])["crossed_at"].iloc[-1]
    assert client.post("/v1/score", headers=auth["officer"], json=outbound(
        1, crossing_id="one-more", crossed_at=last)).status_code == 201
    again = client.get(path, headers=auth["admin"])
    assert again.status_code == 200 and again.get_data(as_text=True) == html
    assert jobs.wait(30)


def test_one_build_per_page_across_workers(app):
    """While one process holds a page's lock, no worker starts another build of it."""
    import fcntl
    jobs = app.extensions["southbound.reports"]
    other = report_jobs.ReportJobs(jobs.root, jobs.environment)  # a second worker
    jobs.root.mkdir(parents=True, exist_ok=True)
    name = report_jobs.page_name("v1", None, "2025-05-01")
    with open(jobs.root / f"{name}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the first worker's builder
        assert not other.start(name, "v1", None) and not other.children
        assert not jobs.start(name, "v1", None) and not jobs.children


def test_one_build_at_a_time_per_instance(app, client, auth):
    """While one page is built, a request for another answers 503 with Retry-After and
    starts nothing; once that build ends, the next request starts its own."""
    import fcntl
    jobs = app.extensions["southbound.reports"]
    jobs.root.mkdir(parents=True, exist_ok=True)
    assert client.post("/v1/crossings", headers=auth["officer"], json={
        "crossing_id": "i1", "crossed_at": "2025-05-01T10:00:00Z", "direction": "inbound",
        "port_code": "2304", "vehicle_class": "personal", "plate_id": "P1"}).status_code == 201
    version = app.extensions["southbound.models"].current().version
    with open(jobs.root / report_jobs.BUILDER_LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another page's builder
        with pytest.raises(report_jobs.Busy):
            jobs.start(report_jobs.page_name("v2", None, "2025-05-01"), "v2", None)
        responses = [client.get(f"/reports/{version}", headers=auth["analyst"])
                     for _ in range(4)]
        for response in responses:
            assert response.status_code == 503 and response.json["error"]["code"] == "report_busy"
            assert int(response.headers["Retry-After"]) == report_jobs.RETRY_AFTER
        assert not jobs.children
        page_lock = jobs.root / f"{report_jobs.page_name(version, version, '2025-05-01')}.lock"
        with open(page_lock, "w") as free:       # the page's own lock was let go again
            fcntl.flock(free, fcntl.LOCK_EX | fcntl.LOCK_NB)
    started = client.get(f"/reports/{version}", headers=auth["analyst"])
    assert started.status_code == 202 and len(jobs.children) == 1
    assert jobs.wait(120)


def test_a_failed_build_answers_with_its_error_and_is_retried_later(app):
    jobs = app.extensions["southbound.reports"]
    jobs.root.mkdir(parents=True, exist_ok=True)
    name = report_jobs.page_name("v1", None, "2025-05-01")
    report_jobs._write_error(jobs.root / f"{name}.error.json", 409, "artifact_refused",
                             "artifact of v1 has SHA-256 …", "version")
    assert jobs.lookup(name) == ("failed", {"status": 409, "code": "artifact_refused",
                                            "message": "artifact of v1 has SHA-256 …",
                                            "field": "version"})
    stale = time.time() - report_jobs.ERROR_SECONDS - 1
    os.utime(jobs.root / f"{name}.error.json", (stale, stale))
    assert jobs.lookup(name) == (None, None)


def test_a_refused_artifact_is_a_409_from_the_builder(app, client, auth, tmp_path,
                                                       trained, no_build_here):
    import shutil
    from models.registry import Registry
    registry = Registry(tmp_path / "reg")
    version = registry.save(*trained)
    (registry.versions_dir / version / "model.joblib").write_bytes(b"not the model")
    jobs = app.extensions["southbound.reports"]
    jobs.environment["SOUTHBOUND_REGISTRY"] = str(registry.root)
    app.extensions["southbound.models"].registry = registry
    assert client.post("/v1/crossings", headers=auth["officer"], json={
        "crossing_id": "i1", "crossed_at": "2025-05-01T10:00:00Z", "direction": "inbound",
        "port_code": "2304", "vehicle_class": "personal", "plate_id": "P1"}).status_code == 201
    response = _until_built(client, f"/reports/{version}", auth["analyst"])
    assert response.status_code == 409 and response.json["error"]["code"] == "artifact_refused"
    assert response.json["error"]["field"] == "version"
    assert jobs.wait(30)
    shutil.rmtree(registry.root)


def test_report_page_refuses_officers_and_unknown_versions(app, client, auth):
    version = app.extensions["southbound.models"].current().version
    answers = {
        401: client.get(f"/reports/{version}"),
        403: client.get(f"/reports/{version}", headers=auth["officer"]),
        404: client.get("/reports/20990101T000000Z-deadbeef", headers=auth["analyst"]),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert set(response.json["error"]) == {"code", "message", "field"}
    assert answers[404].json["error"]["field"] == "version"
    empty = client.get(f"/reports/{version}", headers=auth["analyst"])  # nothing stored yet
    assert empty.status_code == 404 and empty.json["error"]["code"] == "no_traffic"


def test_figures_on_few_seizures_are_flagged_with_their_count(page, switched_off):
    manifest = switched_off[1]
    on = manifest["data"]["split"]["validate"]["seizures"]  # the report's default window
    assert on < FEW_SEIZURES
    assert f"rests on {on} seizure" in section(page, "budget")
    assert f"rests on {on} seizure" in section(page, "calibration")
    card = section(page, "card")
    assert f"(on {on} seizures, unstable)" in card
    for warning in manifest["warnings"]:
        assert escape(warning) in card


def test_no_view_module_can_build_a_report():
    """The page builder is reachable from the service only through the builder process:
    no module of service/api imports training.report (a route that did would build a
    report inside a request worker again)."""
    import ast
    from pathlib import Path
    api = Path(__file__).resolve().parents[1] / "service" / "api"
    for path in sorted(api.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m and m.startswith("training")}, path.name


def test_an_interval_without_width_on_the_page_says_it_is_unstable(trained, world_frame):
    """One seizure in the window: every recall interval is [0%, 0%] or [100%, 100%]."""
    model, manifest = trained
    since = int(pd.Timestamp(manifest["data"]["windows"]["validate_from"]).value // 1000)
    frame = world_frame.copy()
    late = (frame["crossed_at"].to_numpy() >= since) & (frame["seizure"] == 1.0).to_numpy()
    frame.loc[np.flatnonzero(late)[1:], "seizure"] = 0.0  # keep the window's first seizure
    budget = section(build_report(model, manifest, frame), "budget")
    assert "rests on 1 seizure (fewer than" in budget
    rows = [r for r in budget.split("<tbody>", 1)[1].split("<tr>") if "random" not in r and r]
    assert rows and all("unstable: no spread on 1 seizure" in r for r in rows)


def test_the_report_checks_estimated_selection_probabilities(trained):
    """A log whose officer picks have no logged probability (the officer-cues world): the
    report shows how the estimate behaves; the base world's report says none is estimated."""
    from scoring.contract import parse_frame
    from training.synth import WorldConfig, generate_world
    log, _ = generate_world(WorldConfig(days=20, seed=4, scale=0.003, variant="officer-cues"))
    frame = parse_frame(log).frame
    assert frame["selection_probability"].isna().any()
    html = build_report(*trained, frame, since=int(frame["crossed_at"].min()))
    assert "Selection probabilities estimated where the log lacks them" in html
    assert "median ratio" in html


def test_a_log_with_every_probability_says_none_is_estimated(page):
    assert "none is estimated" in page


def test_an_outcome_test_shows_its_small_groups_in_one_row(trained, world_frame):
    """Not one "n < 20" row per port and source (112 of them on a larger world): one row
    naming how many ports it holds."""
    from training.report import build_report
    html = build_report(*trained, world_frame)
    for key, what in (("outcome-port", "ports"), ("outcome-country", "plate countries")):
        rows = section(html, key).split("<tbody>", 1)[1].split("<tr>")[1:]
        small = [r for r in rows if "n &lt; 20" in r and "<td>all</td>" not in r]
        if key == "outcome-port":
            assert len(small) == 1
        assert len(small) <= 1
        for r in small:
            assert re.search(rf"<td>\d+ other {what} \(n &lt; 20 each\)</td>", r), r


def test_the_policy_that_chose_the_inspections_is_called_the_policy_in_force(trained,
                                                                           world_frame):
    """In the service's store the inspections were chosen by the model in service: the
    rows ranked by the selection probability are not a "legacy policy", and its recall
    on its own picks is said to read near 100% for want of random picks."""
    from training.report import build_report
    frame = world_frame.copy()
    officer = (frame["referral"] == "officer").to_numpy()
    frame.loc[officer, "referral"] = "model"
    frame.loc[officer, "selection_probability"] = 1.0
    html = build_report(*trained, frame)
    budget = section(html, "budget")
    assert "<td>policy in force</td>" in budget and "legacy policy" not in budget
    assert "here the model in service's referrals" in budget
    assert "recall reads near 100% with no spread" in budget
    assert "legacy" not in section(html, "referrals-port").split("<tbody>", 1)[0]
