"""Reasons an officer can act on: none that holds for the whole port, and a referral
that never looks like a mistake, whatever picked it, in the service and in batch."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.batch import score_frame
from scoring.features import feature_frame
from scoring.paths import ports_file
from scoring.policy import PolicyConfig, ScoreQuantiles
from scoring.features import FEATURES, LAST_INBOUND_PORT
from scoring.reasons import (GROUPS, NOTHING_STANDS_OUT, READS, SELECTED, explain,
                             reason_lines, with_selection)
from service.store import crossings, scores
from tests.helpers.replay import replay
from tests.helpers.service import soon


@pytest.fixture
def database_url(tmp_path):
    """Reasons do not depend on the store: SQLite is enough."""
    return f"sqlite:///{tmp_path / 'southbound.db'}"


def test_no_reason_holds_for_every_crossing_at_the_port(world_frame):
    """A worded factor must tell crossings at a port apart: each reason group words two
    crossings at the same port differently somewhere in the world (the port itself, or
    anything else fixed by the port, cannot)."""
    feats = feature_frame(world_frame)
    ports = [rows.to_dict("records") for _, rows in feats.groupby("port_code")
             if len(rows) >= 200]
    assert len(ports) >= 3
    for group, _, wording in GROUPS:
        if wording is None:
            continue
        assert any(len({wording(row) for row in rows}) > 1 for rows in ports), \
            f"reason group {group!r} is the same for every crossing at each port"


def test_batch_reasons_never_name_the_port_and_referrals_say_selected(world_frame, trained):
    model, manifest = trained
    out = score_frame(model, world_frame, PolicyConfig(default_capacity=0.05),
                      ScoreQuantiles.from_manifest(manifest))
    names = pd.read_csv(ports_file(), dtype=str)["port_name"]
    assert not out["reasons"].str.contains(
        "crossing at (?:" + "|".join(map(re.escape, names)) + ")").any()
    referred, others = out[out["refer"]], out[~out["refer"]]
    assert len(referred) > 10 and len(others) > 100
    texts = referred["reasons"].str.split("; ")
    assert texts.map(lambda t: t[-1] == SELECTED["text"] and 1 <= len(t) <= 3).all()
    assert not texts.map(lambda t: NOTHING_STANDS_OUT in t).any()
    assert not others["reasons"].str.contains(SELECTED["text"]).any()


class _Recorder(dict):
    """A crossing's values that remember which were read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_each_wording_reads_only_what_reads_declares(world_frame):
    """Batch scoring words each distinct combination of READS once: a wording that read
    anything else would give one crossing's text to another."""
    feats = feature_frame(world_frame)
    for row in feats.sample(3000, random_state=0).to_dict("records"):
        for group, _, wording in GROUPS:
            if wording is None:
                continue
            values = _Recorder(row)
            wording(values)
            assert values.read <= set(READS[group]), (group, values.read - set(READS[group]))


def test_batch_reason_lines_equal_each_crossings_own(world_frame):
    """reason_lines (distinct inputs once) gives each crossing what explain and
    with_selection give it alone, whatever its groups and referral."""
    feats = feature_frame(world_frame)
    rng = np.random.default_rng(0)
    n = len(feats)
    groups = np.stack([rng.permutation(len(GROUPS))[:3] for _ in range(n)])
    groups[groups == [g for g, (name, _, _) in enumerate(GROUPS) if name == "port"][0]] = -1
    groups[rng.random((n, 3)) < 0.2] = -1
    groups = np.sort(groups, axis=1)[:, ::-1]  # a row's -1 places come last
    refer = rng.random(n) < 0.3
    lines = reason_lines({c: feats[c].to_numpy() for c in set(FEATURES) | {LAST_INBOUND_PORT}},
                         groups, refer)
    for i, row in enumerate(feats.to_dict("records")):
        found = explain(row, groups[i])
        expected = "; ".join(r["text"] for r in (with_selection(found) if refer[i] else found))
        assert lines[i] == expected


NAN = float("nan")


@pytest.mark.parametrize("group, values, text", [
    ("crossing_rate", {"plate_out_per_day": 0.4}, "0.4 outbound crossings a day since the "
     "plate was first seen"),
    ("crossing_rate", {"plate_out_per_day": 0.0}, "no outbound crossing since the plate was "
     "first seen"),
    ("crossing_rate", {"plate_out_per_day": NAN}, "no crossing rate: plate never seen before"),
    ("usual_turnaround", {"plate_turnaround_ratio": 0.08, "plate_hours_since_inbound": 1.8},
     "left 1.8 h after entering, 0.08 of the plate's usual time between crossings"),
    ("usual_turnaround", {"plate_turnaround_ratio": 3.0, "plate_hours_since_inbound": 72.0},
     "left 3 days after entering, 3.0 times the plate's usual time between crossings"),
    ("usual_turnaround", {"plate_turnaround_ratio": NAN, "plate_hours_since_inbound": 2.0},
     "no usual time between crossings on record for this plate"),
    ("burst", {"plate_burst_7_30": 2.1, "plate_out_7d": 5.0, "plate_out_30d": 6.0},
     "5 outbound crossings in the last 7 days of 6 in the last 30 days"),
    ("burst", {"plate_burst_7_30": 0.0, "plate_out_7d": 0.0, "plate_out_30d": 0.0},
     "no outbound crossing in 30 days"),
    ("registration_first_seen", {"registration_age_first_seen": 3.6},
     "registration 3 days old when the plate was first seen"),
    ("registration_first_seen", {"registration_age_first_seen": -40.0},
     "plate seen before its current registration"),
    ("registration_first_seen", {"registration_age_first_seen": NAN},
     "registration age when the plate was first seen not known"),
    ("time", {"local_hour": 0.0, "local_weekday": 0.0},   # 00:48: the hour, not "00:00"
     "crossing between 00:00 and 00:59 local time on a Monday"),
    ("time", {"local_hour": 23.0, "local_weekday": 6.0},
     "crossing between 23:00 and 23:59 local time on a Sunday"),
    ("referrals", {"plate_prior_referrals": 2.0}, "referred to secondary 2 times before"),
    ("referrals", {"plate_prior_referrals": 0.0}, "never referred to secondary before"),
    ("usual_hour", {"port_hour_share_7d": 0.023}, "2% of the port's outbound crossings in "
     "7 days came within an hour of this time of day"),
    ("usual_hour", {"port_hour_share_7d": NAN}, "no recent crossings at this port to "
     "compare the hour with"),
    ("convoy", {"plate_convoy_partners": 2.0}, "2 plates seen leaving with this one in the "
     "last 7 days left in the 10 minutes ahead of it"),
    ("convoy", {"plate_convoy_partners": 0.0}, "no plate seen leaving with this one in the "
     "last 7 days left just ahead of it"),
    ("plate_usual_hour", {"plate_hour_share_14d": 0.0}, "0% of this plate's outbound "
     "crossings in 14 days came within an hour of this time of day"),
    ("plate_usual_hour", {"plate_hour_share_14d": NAN}, "no outbound crossings of this "
     "plate in 14 days to compare the hour with"),
    ("plate_usual_port", {"plate_port_share": 0.0, "port_code": "2304"},
     "first crossing of this plate at Laredo"),
    ("plate_usual_port", {"plate_port_share": 0.25, "port_code": "2304"},
     "25% of this plate's earlier crossings were at Laredo"),
    ("plate_usual_port", {"plate_port_share": NAN, "port_code": "2304"},
     "plate never seen before: no usual port"),
    ("carrier_value", {"carrier_value_share": 0.05}, "5% of the carrier's earlier declared "
     "loads were worth about as much as this one"),
    ("carrier_value", {"carrier_value_share": NAN}, "no declared load value of this "
     "carrier's to compare with"),
    ("plate_value", {"plate_value_share": 0.4}, "40% of this truck's earlier declared "
     "loads were worth about as much as this one"),
    ("plate_value", {"plate_value_share": NAN}, "no declared load value of this truck's to "
     "compare with"),
    ("unusual_loads", {"plate_unusual_loads": 3.0}, "3 earlier loads of this truck declared "
     "at a value unusual for its carrier"),
    ("unusual_loads", {"plate_unusual_loads": 1.0}, "1 earlier load of this truck declared "
     "at a value unusual for its carrier"),
    ("unusual_loads", {"plate_unusual_loads": 0.0}, "no earlier load of this truck unusual "
     "for its carrier"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_each_behaviour_feature_reads_plainly(group, values, text):
    wording = {name: words for name, _, words in GROUPS}[group]
    assert wording(values) == text


@pytest.mark.parametrize("reasons, expected", [
    ([], ["selection"]),
    ([("none", NOTHING_STANDS_OUT)], ["selection"]),
    ([("a", "x")], ["a", "selection"]),
    ([("a", "x"), ("b", "y")], ["a", "b", "selection"]),
    ([("a", "x"), ("b", "y"), ("c", "z")], ["a", "b", "selection"]),
], ids=["empty", "nothing-stands-out", "one", "two", "three"])
def test_selection_takes_the_weakest_place(reasons, expected):
    given = [{"factor": f, "text": t} for f, t in reasons]
    assert [r["factor"] for r in with_selection(given)] == expected


def test_every_kind_of_pick_reads_the_same_to_the_officer(app, client, auth, world,
                                                          tmp_path):
    """Lookout, random and model picks all end with the same neutral reason (one to
    three in all); what picked them stays in the store, never in the answer."""
    policy = tmp_path / "policy.toml"
    # the world's first hours have no history (no usual rate or hour yet), and score low:
    # a 20% capacity makes sure the model picks some of them (10% picked none)
    policy.write_text("random_share = 0.2\ndefault_capacity = 0.2\n")
    from service import create_app
    app = create_app({**app.config, "POLICY_FILE": str(policy)})
    client = app.test_client()
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(600)
    plate = log.loc[log["direction"] == "outbound", "plate_id"].iloc[5]
    assert client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": plate, "reason": "tip", "expires_at": soon()}
        ).status_code == 201
    answers = replay(client, auth["officer"], log)
    with app.extensions["southbound.store"].engine.connect() as conn:
        source = dict(conn.execute(sa.select(scores.c.crossing_id,
                                             scores.c.referral_source)).all())
    by_source = {}
    for crossing_id, answer in answers.items():
        by_source.setdefault(source[crossing_id], []).append(answer)
    assert {"lookout", "random", "model", "none"} <= set(by_source), \
        {k: len(v) for k, v in by_source.items()}
    for kind, picked in by_source.items():
        for answer in picked:
            factors = [r["factor"] for r in answer["reasons"]]
            assert 1 <= len(factors) <= 3 and "port" not in factors
            if kind == "none":
                assert not answer["refer"] and "selection" not in factors
            else:
                assert answer["refer"] and answer["reasons"][-1] == SELECTED, answer
                assert factors.count("selection") == 1 and "none" not in factors
                assert set(answer) == set(by_source["none"][0])  # nothing says which pick
    shown = client.get(f"/v1/crossings/{by_source['random'][0]['crossing_id']}",
                       headers=auth["officer"]).json
    assert shown["score"]["reasons"][-1] == SELECTED
    app.extensions["southbound.store"].engine.dispose()


@pytest.mark.parametrize("everyone", [False, True], ids=["none-referred", "all-referred"])
def test_batch_and_service_give_the_same_reasons(app, auth, world, tmp_path, trained,
                                                 everyone):
    """One rule, two executions: a log scored in batch and the same log sent through the
    API give every crossing the same reasons, referred (every pick) or not."""
    from scoring.contract import OUTCOME_COLUMNS, parse_frame
    from service import create_app
    policy = tmp_path / "policy.toml"
    policy.write_text(f"random_share = {1.0 if everyone else 0.0}\ndefault_capacity = 0.0\n"
                      "explore_share = 0.0\n")
    served = create_app({**app.config, "POLICY_FILE": str(policy)})
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(800)
    log[list(OUTCOME_COLUMNS)] = ""  # the service is told no outcomes: neither is batch
    # an analyst sees a referral's reasons (an officer only "selected for inspection")
    answers = replay(served.test_client(), auth["analyst"], log)
    # the service counts its own earlier referrals (plate_prior_referrals): batch is told them
    with served.extensions["southbound.store"].engine.connect() as conn:
        stored = dict(conn.execute(sa.select(crossings.c.crossing_id, crossings.c.referral)).all())
    log["referral"] = log["crossing_id"].map(stored).fillna("")
    batch = score_frame(trained[0], parse_frame(log).frame,
                        PolicyConfig(random_share=0.0, default_capacity=1.0 if everyone else 0.0),
                        ScoreQuantiles.from_manifest(trained[1]))
    assert len(batch) == len(answers) > 200
    assert batch["refer"].all() if everyone else not batch["refer"].any()
    for crossing_id, reasons in zip(batch["crossing_id"], batch["reasons"]):
        answer = answers[crossing_id]
        assert answer["refer"] is everyone
        assert "; ".join(r["text"] for r in answer["reasons"]) == reasons, crossing_id
    served.extensions["southbound.store"].engine.dispose()


def test_top_groups_equal_the_stable_sort_with_ties():
    """The batch's top groups (one smallest at a time) are the stable sort's first three,
    ties broken by group order as the sort breaks them."""
    from scoring.reasons import group_matrix, top_groups
    matrix = group_matrix(FEATURES)
    contributions = np.random.default_rng(0).integers(-2, 3, size=(3000, len(FEATURES)))
    grouped = contributions.astype(float) @ matrix
    order = np.argsort(-grouped, axis=1, kind="stable")[:, :3]
    expected = np.where(np.take_along_axis(grouped, order, axis=1) > 0, order, -1)
    assert np.array_equal(top_groups(contributions.astype(float), matrix), expected)
