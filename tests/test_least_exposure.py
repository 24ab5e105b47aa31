"""Least exposure: what an officer sees never tells a random or exploration pick from a
model or lookout pick, in any answer (POST /v1/score, the batch, a crossing's look-up,
the lane), while analysts see the score, band, reasons and referral source; /metrics
names no referral source; an officer gets the model's version, never its manifest.
"""
from __future__ import annotations

import re

import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.reasons import SELECTED
from service.store import scores
from tests.helpers.replay import crossing_body, replay
from tests.helpers.service import soon

#: what a look-up or the lane adds to a score's answer, the same for every referral
STORED = ("scored_at", "policy_version", "crossed_at", "port_code", "plate_id",
          "plate_jurisdiction", "vehicle_class", "body_type", "vehicle_make", "outcome")


def _kind_blind(answer):
    """An officer's answer less what names the crossing itself."""
    return {k: v for k, v in answer.items() if k not in ("crossing_id",) + STORED}


@pytest.fixture
def picked(app, auth, world, tmp_path):
    """An app whose policy makes every kind of pick often, the world's first rows replayed
    through it by an officer: (app, {crossing_id: answer}, {crossing_id: source})."""
    from service import create_app
    policy = tmp_path / "policy.toml"
    policy.write_text("random_share = 0.15\ndefault_capacity = 0.15\nexplore_share = 0.3\n")
    served = create_app({**app.config, "POLICY_FILE": str(policy)})
    client = served.test_client()
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(700)
    plate = log.loc[log["direction"] == "outbound", "plate_id"].iloc[5]
    assert client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": plate, "reason": "tip", "expires_at": soon()}
        ).status_code == 201
    answers = replay(client, auth["officer"], log.iloc[:-40])
    # the last outbound rows through the batch route
    rest = [crossing_body(r) for r in log.iloc[-40:].to_dict("records")
            if r["direction"] == "outbound"]
    batch = client.post("/v1/score/batch", json={"crossings": rest}, headers=auth["officer"])
    assert batch.status_code == 200
    answers.update({a["crossing_id"]: a for a in batch.json["results"]})
    with served.extensions["southbound.store"].engine.connect() as conn:
        source = dict(conn.execute(sa.select(scores.c.crossing_id,
                                             scores.c.referral_source)).all())
    yield served, answers, source
    served.extensions["southbound.store"].engine.dispose()


def test_an_officer_cannot_tell_what_picked_a_referral(picked, auth):
    app, answers, source = picked
    client = app.test_client()
    kinds = {}
    for crossing_id, answer in answers.items():
        kinds.setdefault(source[crossing_id], []).append(crossing_id)
    assert {"lookout", "random", "explore", "model", "none"} <= set(kinds), \
        {k: len(v) for k, v in kinds.items()}
    referred = [i for kind in ("lookout", "random", "explore", "model") for i in kinds[kind]]
    # the score's answer (one at a time and in the batch)
    seen = {_kind_blind(answers[i]) == {"risk_score": None, "risk_band": None, "refer": True,
                                        "reasons": [SELECTED],
                                        "model_version": answers[i]["model_version"]}
            for i in referred}
    assert seen == {True}
    # a look-up of each, as an officer
    looked = {}
    for kind in ("lookout", "random", "explore", "model"):
        for crossing_id in kinds[kind][:5]:
            shown = client.get(f"/v1/crossings/{crossing_id}", headers=auth["officer"]).json
            looked[crossing_id] = shown
            assert _kind_blind(shown["score"]) == _kind_blind(answers[crossing_id])
            assert "referral" not in shown["crossing"]
            assert "selection_probability" not in shown["crossing"]
            assert set(shown) == {"crossing", "score", "outcome"}
    # the lanes of every port, as an officer: the same view of every referral
    ports = {shown["crossing"]["port_code"] for shown in looked.values()}
    for port in ports:
        lane = client.get(f"/v1/crossings?port_code={port}&limit=200",
                          headers=auth["officer"]).json["crossings"]
        rows = [row for row in lane if row["crossing_id"] in source]
        assert {(source[r["crossing_id"]] != "none") == r["refer"] for r in rows} == {True}
        blind = {repr(_kind_blind(r)) for r in rows if r["refer"]}
        assert len(blind) == 1, blind
    # the scores of the crossings not referred are shown as they are
    unreferred = answers[kinds["none"][0]]
    assert unreferred["risk_score"] > 0 and unreferred["risk_band"]


def test_analysts_see_the_score_band_reasons_and_source_of_every_referral(picked, auth):
    app, answers, source = picked
    client = app.test_client()
    referred = [i for i in answers if source[i] in ("random", "explore", "model", "lookout")]
    for crossing_id in referred[:20]:
        shown = client.get(f"/v1/crossings/{crossing_id}", headers=auth["analyst"]).json
        score = shown["score"]
        assert score["risk_score"] > 0 and score["risk_band"]
        assert score["referral_source"] == source[crossing_id]
        assert score["reasons"][-1] == SELECTED
        assert shown["crossing"]["referral"] == source[crossing_id]
    port = client.get(f"/v1/crossings/{referred[0]}", headers=auth["analyst"]
                      ).json["crossing"]["port_code"]
    lane = client.get(f"/v1/crossings?port_code={port}", headers=auth["analyst"]).json
    assert all(r["risk_score"] > 0 and r["risk_band"] for r in lane["crossings"])


def test_metrics_name_no_referral_source_and_officers_get_no_manifest(picked, auth):
    app, answers, source = picked
    client = app.test_client()
    scrape = client.get("/metrics").get_data(as_text=True)
    referrals = [line for line in scrape.splitlines()
                 if line.startswith("southbound_referrals_total{")]
    assert referrals  # lookout, random, explore and model picks were made
    for line in referrals:
        assert set(re.findall(r'(\w+)="', line)) == {"port"}, line
    for kind in ("lookout", "random", "explore", "model"):
        assert f'"{kind}"' not in scrape
    model = client.get("/v1/model", headers=auth["officer"]).json
    assert set(model) == {"version", "role"}
