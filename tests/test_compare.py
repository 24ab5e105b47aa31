"""Off-policy comparison: honest intervals on simulated service histories, and the loop.

A simulated history is what the service logs while a challenger shadows the champion:
every crossing scored by both, the champion's picks (its top share at each port,
selection probability 1) and a random share (probability 0.02) inspected, seizures
found where someone looked. The truth, who carried, is known for every crossing, so
the true difference of the two referral lists is known too.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from training.compare import CompareError, compare, format_comparison, referral_list

PORTS = ("2304", "2402", "2506", "2604", "2309", "2305")


def simulated_history(seed, n=20_000, random_share=0.02, capacity=0.02, noise=(1.0, 0.6)):
    """(history, true difference in carriers caught, true relative difference)."""
    rng = np.random.default_rng(seed)
    ports = rng.choice(PORTS, size=n)
    risk = rng.normal(size=n)
    carrier = rng.random(n) < 1 / (1 + np.exp(-(1.6 * risk - 5.8)))  # about 1%
    champion = 1.6 * risk + rng.normal(scale=noise[0], size=n)
    challenger = 1.6 * risk + rng.normal(scale=noise[1], size=n)
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    share = lambda port: capacity  # noqa: E731
    picks = referral_list(champion, ports, ids, share)
    referred = picks | (rng.random(n) < random_share)
    history = pd.DataFrame({
        "crossing_id": ids, "port_code": ports, "champion": champion,
        "challenger": challenger, "mu": 1 / (1 + np.exp(-(champion / 1.3 - 5.8))),
        "selection_probability": np.where(picks, 1.0, random_share),
        "labelled": referred, "referred": referred,
        "seizure": np.where(referred, carrier, np.nan).astype(float),
        "firearms_seized": np.where(referred & carrier, 2.0, np.where(referred, 0.0, np.nan)),
        "rounds_seized": 0.0, "currency_seized_usd": 0.0})
    a = referral_list(champion, ports, ids, share)
    b = referral_list(challenger, ports, ids, share)
    truth = int(carrier[b].sum()) - int(carrier[a].sum())
    return history, truth, carrier[b].sum() / max(carrier[a].sum(), 1) - 1


def test_the_intervals_cover_the_true_difference_over_40_simulated_histories():
    covered = {"ipw": 0, "dr": 0, "relative": 0}
    for seed in range(40):
        history, truth, relative = simulated_history(seed)
        result = compare(history, lambda port: 0.02, n_boot=1000, seed=seed)
        for method in ("ipw", "dr"):
            lo, hi = result["difference"][method]["seizures_ci"]
            covered[method] += lo <= truth <= hi
        lo, hi = result["difference"]["dr"]["relative_ci"]
        covered["relative"] += lo <= relative <= hi
    assert all(count >= 36 for count in covered.values()), covered


def test_a_large_history_tells_a_better_challenger_apart_and_a_small_one_says_it_cannot():
    history, truth, relative = simulated_history(101, n=200_000, noise=(1.5, 0.4))
    result = compare(history, lambda port: 0.02, champion="v1", challenger="v2")
    d = result["difference"]["dr"]
    assert truth > 0 and d["seizures_ci"][0] <= truth <= d["seizures_ci"][1]
    assert d["relative_ci"][0] > 0
    assert result["verdict"].startswith("v2 catches more than v1 at the same capacity: an estimated +")
    small, _, _ = simulated_history(1, n=5_000)
    result = compare(small, lambda port: 0.02, champion="v1", challenger="v2")
    assert result["verdict"].startswith("no difference shown yet between v2 and v1")
    assert "more labelled seizures needed" in result["verdict"]
    assert any("unstable" in w for w in result["warnings"])  # few seizures behind it


def test_both_lists_have_each_ports_capacity_and_agreement_is_counted():
    history, _, _ = simulated_history(3, n=6_000)
    capacity = {"2304": 0.05, "2402": 0.0}
    result = compare(history, lambda port: capacity.get(port, 0.02))
    sizes = history.groupby("port_code").size()
    expected = sum(int(np.ceil(capacity.get(p, 0.02) * k)) for p, k in sizes.items())
    for m in result["models"].values():
        assert m["referred"] == expected
    g = result["agreement"]
    assert g["both"] + g["champion_only"] == expected == g["both"] + g["challenger_only"]
    # the same model on both sides: no difference, exactly
    same = history.assign(challenger=history["champion"])
    level = compare(same, lambda port: 0.02)
    assert level["difference"]["dr"]["seizures"] == 0
    assert level["difference"]["dr"]["seizures_ci"] == [0.0, 0.0]
    assert "the estimates are level" in level["verdict"]
    text = "\n".join(format_comparison(result))
    assert "difference (DR)" in text and "agreement:" in text
    # version ids whole (a cut one cannot be typed into `models promote`), columns aligned
    ids = {"champion": "20261206T194322Z-7f0c5c8b", "challenger": "20261206T194339Z-372acbcd-2"}
    named = format_comparison(compare(history, lambda port: 0.02, n_boot=20, **ids))
    for role, version in ids.items():
        assert any(line.split()[:2] == [version, role] for line in named[1:3])
    column = named[0].index("referred") + len("referred")
    for line in named[1:3]:
        assert re.match(r"\S+ +(?:champion|challenger) +[\d,]+", line).end() == column


def explored_history(seed, n=20_000):
    """A simulated history where exploration gives nearly every crossing not picked by the
    model its own selection probability (as the service's policy does): (history,
    carriers)."""
    history, _, _ = simulated_history(seed, n=n)
    rng = np.random.default_rng(seed + 1)
    carrier = np.random.default_rng(seed)
    carrier.choice(PORTS, size=n)
    carrier = carrier.random(n) < 1 / (1 + np.exp(-(1.6 * carrier.normal(size=n) - 5.8)))
    picks = history["selection_probability"].to_numpy() == 1.0
    near = history["champion"].to_numpy() > np.quantile(history["champion"], 0.9)
    weight = (1 + 4 * (rng.random(n) < 0.3) + 4 * near) * rng.uniform(0.8, 1.25, size=n)
    chance = np.where(picks, 1.0, 0.01 + 0.99 * np.minimum(0.01 * weight / weight.mean(), 1))
    referred = picks | (rng.random(n) < chance)
    return history.assign(selection_probability=chance, labelled=referred, referred=referred,
                          seizure=np.where(referred, carrier, np.nan).astype(float)), carrier


def test_intervals_hold_their_estimates_and_hit_rates_stay_rates_when_every_chance_differs():
    """Every crossing with its own selection probability once made every empty stratum add
    Gamma(1/2) / p to each replicate: intervals far above their estimates, hit rates
    of 746%."""
    for seed in range(3):
        history, carrier = explored_history(seed)
        assert history["selection_probability"].nunique() > 10_000
        result = compare(history, lambda port: 0.02, n_boot=1000, seed=seed)
        for m in result["models"].values():
            for method in ("ipw", "dr"):
                lo, hi = m[f"{method}_ci"]
                assert lo <= m[f"estimated_seizures_{method}"] <= hi
                assert m["labelled_seizures"] <= lo and hi <= m["referred"]
            lo, hi = m["hit_rate_dr_ci"]
            assert 0 <= lo <= m["hit_rate_dr"] <= hi <= 1
        for method in ("ipw", "dr"):
            d = result["difference"][method]
            assert d["seizures_ci"][0] <= d["seizures"] <= d["seizures_ci"][1]
            assert d["relative_ci"][0] <= d["relative"] <= d["relative_ci"][1]
        lo, hi = result["difference"]["dr"]["seizures_ci"]
        if lo <= 0 <= hi:
            assert result["verdict"].startswith("no difference shown yet")


def test_nothing_to_compare_is_said_plainly():
    history, _, _ = simulated_history(4, n=500)
    with pytest.raises(CompareError, match="no crossing was scored by both"):
        compare(history.iloc[:0], lambda port: 0.02)


def test_outcomes_only_outside_both_lists_are_insufficient_evidence_not_an_error(
        runner, registry_path, tmp_path, monkeypatch, challenger_model):
    from models.registry import Registry, evidence
    from southbound import cli
    from southbound.commands import grading
    history, _, _ = simulated_history(4, n=3_000)
    either = (referral_list(history["champion"], history["port_code"], history["crossing_id"],
                            lambda port: 0.02)
              | referral_list(history["challenger"], history["port_code"],
                              history["crossing_id"], lambda port: 0.02))
    history = history.assign(labelled=history["labelled"] & ~either)
    assert history["labelled"].sum() > 10
    result = compare(history, lambda port: 0.02, champion="v1", challenger="v2")
    assert result["sufficient"] is False
    assert result["verdict"].startswith("insufficient evidence: none of the ")
    assert "has a recorded outcome yet" in result["verdict"]
    assert all(m["referred"] > 0 for m in result["models"].values())
    # the command says so, exits 0 and keeps it; a promotion that requires evidence refuses
    reg = Registry(registry_path)
    champion, challenger = reg.active_version(), reg.save(*challenger_model)
    reg.set_shadow(challenger)
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    real_store = grading.open_store

    class Store:
        url = "sqlite:///shadow.db"

        def shadow_history(self, *args):
            return history

    monkeypatch.setattr(grading, "open_store", Store)
    out = runner.invoke(cli.main, ["compare", "--registry", str(registry_path)])
    assert out.exit_code == 0, out.output
    assert "insufficient evidence" in out.output.splitlines()[-1]
    assert reg.comparison(challenger)["sufficient"] is False
    found, words = evidence(reg, challenger, champion)
    assert not found and "insufficient evidence" in words
    monkeypatch.setattr(grading, "open_store", real_store)
    refused = runner.invoke(cli.main, ["models", "promote", challenger, "--registry",
                                       str(registry_path), "--require-comparison"])
    assert refused.exit_code == 1 and "insufficient evidence" in refused.output
    assert reg.active_version() == champion


# --- the analyst's loop through the API and the command line --------------------

def test_train_shadow_compare_promote_roll_back_through_the_api(
        database_url, registry_path, tmp_path, runner, monkeypatch, world, challenger_model):
    """train (fixtures) -> shadow -> traffic and outcomes -> compare -> promote -> roll back."""

    from models.registry import Registry
    from service.replay import replay as send, truth_outcome
    from southbound.cli import main
    from tests.helpers.service import make_app, tokens_for
    root = registry_path                  # this test's own copy
    reg = Registry(root)
    champion = reg.active_version()
    challenger = reg.save(*challenger_model)
    app = make_app(database_url, root, tmp_path)
    auth, client = tokens_for(app), app.test_client()
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    try:
        assert client.post(f"/v1/models/{challenger}/shadow",
                           headers=auth["analyst"]).status_code == 200
        # the last day of the small world through the service, outcomes from its truth file
        log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
        stamps = pd.to_datetime(log["crossed_at"], utc=True, format="ISO8601")
        log = log[stamps >= stamps.max() - pd.Timedelta(days=1)]
        truth = pd.read_csv(world[1], dtype={"crossing_id": str})
        outcome = truth_outcome(dict(zip(truth["crossing_id"], zip(
            truth["carrier"], truth["firearms"], truth["rounds"], truth["currency_usd"]))))
        answers = send(client, auth["officer"], log, outcome)
        assert answers
        # promotion that demands evidence is refused before a comparison exists
        refused = client.post(f"/v1/models/{challenger}/activate", headers=auth["analyst"],
                              json={"require_comparison": True})
        assert refused.status_code == 409 and refused.json["error"]["code"] == "comparison_required"
        bad = client.post(f"/v1/models/{challenger}/activate", headers=auth["analyst"],
                          json={"require_comparison": "yes"})
        assert bad.status_code == 400 and bad.json["error"]["field"] == "require_comparison"
        result = runner.invoke(main, ["compare", "--registry", str(root),
                                      "--out", str(tmp_path / "compare.json")])
        assert result.exit_code == 0, result.output
        assert "difference (DR)" in result.output and "agreement:" in result.output
        kept = json.loads((tmp_path / "compare.json").read_text())
        assert kept["champion"] == champion and kept["challenger"] == challenger
        assert kept["labels"]["crossings"] == len(answers)
        assert reg.comparison(challenger)["verdict"] == kept["verdict"]
        done = client.post(f"/v1/models/{challenger}/activate", headers=auth["analyst"],
                           json={"require_comparison": True})
        assert done.status_code == 200, done.json
        assert done.json["evidence"].startswith("evidence (") and kept["verdict"] in \
            done.json["evidence"]
        assert done.json["comparison"]["verdict"] == kept["verdict"]
        assert reg.shadow_version() is None  # the challenger won: no longer in shadow
        assert client.get("/v1/model", headers=auth["officer"]).json["version"] == challenger
        back = client.post("/v1/models/rollback", headers=auth["analyst"])
        assert back.status_code == 200 and back.json == {"version": champion,
                                                         "previous": challenger}
        assert client.get("/v1/model", headers=auth["officer"]).json["version"] == champion
        again = client.post("/v1/models/rollback", headers=auth["analyst"])
        assert again.status_code == 409 and again.json["error"]["code"] == "rollback_refused"
        assert client.post("/v1/models/rollback", headers=auth["officer"]).status_code == 403
        from service.store import audit
        from tests.helpers.service import rows
        actions = [a["action"] for a in rows(app, audit)
                   if a["action"] not in ("score", "outcome", "token_create", "inbound")]
        assert actions == ["shadow", "activate_refused", "activate", "rollback",
                           "rollback_refused"]
    finally:
        app.extensions["southbound.store"].engine.dispose()


def test_promote_on_the_command_line_shows_the_evidence_or_refuses_without_it(
        runner, registry_path, tmp_path, monkeypatch, trained):

    from models.registry import Registry
    from southbound.cli import main
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    root = registry_path                  # this test's own copy
    reg = Registry(root)
    champion = reg.active_version()
    challenger = reg.save(*trained)
    where = ["--registry", str(root)]
    result = runner.invoke(main, ["models", "promote", challenger, *where,
                                  "--require-comparison"])
    assert result.exit_code == 1 and "without a comparison" in result.output
    assert f"no comparison of {challenger} against {champion}" in result.output
    assert reg.active_version() == champion
    history, _, _ = simulated_history(2, n=3_000)
    reg.save_comparison(challenger, compare(history, lambda port: 0.02, champion=champion,
                                            challenger=challenger))
    result = runner.invoke(main, ["models", "promote", challenger, *where,
                                  "--require-comparison"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("evidence (") and reg.active_version() == challenger


def test_the_report_shows_the_kept_comparison_or_how_to_make_one(trained, world_frame):
    from training.report import build_report
    model, manifest = trained
    history, _, _ = simulated_history(6, n=4_000)
    result = compare(history, lambda port: 0.02, champion="v-champion",
                     challenger=manifest.get("version", "this"))
    page = build_report(model, manifest, world_frame, comparison=result,
                        active=(model, dict(manifest, version="v-now")))
    assert "Off-policy comparison in shadow" in page
    assert result["verdict"].split(" (")[0] in page and "v-champion (champion)" in page
    assert "not the model in service now (v-now)" in page  # a comparison grown stale
    bare = build_report(model, manifest, world_frame)
    assert "No comparison of" in bare and "southbound compare" in bare


def test_the_report_on_the_model_in_service_advises_a_command_that_works(
        trained, world_frame, registry_path, challenger_model, runner, monkeypatch, tmp_path):
    import re
    from html import unescape
    from models.registry import Registry
    from southbound.cli import main
    from training.report import build_report
    model, manifest = trained
    reg = Registry(registry_path)
    active = reg.active_version()
    page = build_report(model, dict(manifest, version=active), world_frame,
                        active=(model, dict(manifest, version=active)))
    advised = [unescape(c) for c in re.findall(r"<code>(southbound [^<]*)</code>", page)]
    assert f"southbound models shadow {active}" not in advised
    assert "southbound models shadow VERSION" in advised and "is the model in service" in page
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    refused = runner.invoke(main, ["models", "shadow", active, "--registry", str(registry_path)])
    assert refused.exit_code != 0  # what the advice used to say
    challenger = reg.save(*challenger_model)
    page = build_report(challenger_model[0], dict(challenger_model[1], version=challenger),
                        world_frame, active=(model, dict(manifest, version=active)))
    command = f"southbound models shadow {challenger}"
    assert command in page
    done = runner.invoke(main, [*command.split()[1:], "--registry", str(registry_path)])
    assert done.exit_code == 0, done.output


@pytest.mark.slow
def test_the_intervals_cover_the_true_catch_over_200_shadow_periods_of_a_generated_world(
        world, world_frame, trained, challenger_model):
    """The generator's truth says who carried, so each list's catch is known; over 200
    shadow periods (the policy's fresh draws each time), the 95% intervals of both
    estimates of both catches and of their difference hold it 90-98% of the time.
    The service refers 1% by model and half at random and the lists are drawn at 5%:
    a shadow period informative enough that an interval is neither a guess nor sure
    to cover (with the defaults' 1% random share the crossings only one model would
    refer hold a seizure or two, and any honest interval covers them nearly always:
    benchmarks/README.md has both)."""
    from scoring.features import DAY_US
    from scoring.policy import PolicyConfig
    from training.shadow_sim import CHECKED, coverage, score_window
    truth = pd.read_csv(world[1], dtype={"crossing_id": str})
    start = int(world_frame["crossed_at"].max()) - 30 * DAY_US
    window = score_window(world_frame, truth, trained[0], challenger_model[0], start)
    service = PolicyConfig(default_capacity=0.01, random_share=0.5, explore_share=0.1)
    out = coverage(window, trained[1], repetitions=200, config=service,
                   capacity_of=lambda port: 0.05, n_boot=500)
    assert out["insufficient"] == 0 and out["truth"]["champion"] > 100
    shares = {(m, f): out[m][f]["coverage"] for m in ("ipw", "dr") for f in CHECKED}
    assert all(0.90 <= share <= 0.98 for share in shares.values()), shares
