"""The service's store exported as a log, and trained on: without selection bias."""
import numpy as np
import pandas as pd
import pytest

import sqlalchemy as sa

from scoring.contract import parse_frame, read_log
from service.export import export_frame
from service.store import crossings
from southbound.cli import main
from tests.helpers.service import outbound, soon
from tests.helpers.replay import replay
from training.evaluate import Labels
from training.synth import WorldConfig, generate_world


@pytest.fixture
def database_url(tmp_path):
    """The round trip runs on SQLite only (the store's queries are tested on both)."""
    return f"sqlite:///{tmp_path / 'southbound.db'}"


@pytest.mark.slow
def test_export_round_trip_trains_without_bias(app, client, auth, runner, tmp_path,
                                               database_url, monkeypatch):
    log, truth = generate_world(WorldConfig(days=14, seed=31, scale=0.002, carrier_share=0.05))
    carrier = dict(zip(truth["crossing_id"], truth["carrier"].astype(str).str.lower() == "true"))

    def inspect_when_referred(row, answer):
        # secondary finds what the car really carries whenever the service refers it
        if not answer["refer"]:
            return None
        found = carrier[row["crossing_id"]]
        return {"inspected": True, "seizure": found, "firearms_seized": 2 if found else 0}

    answers = replay(client, auth["officer"], log, outcome=inspect_when_referred)
    out = tmp_path / "export.csv"
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    result = runner.invoke(main, ["export", "--since", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output

    exported = read_log(out).frame                      # the contract holds
    assert len(exported) == len(log)
    outbound = exported[exported["direction"] == "outbound"].set_index("crossing_id")
    referred = pd.Series({k: a["refer"] for k, a in answers.items()})
    assert (outbound.loc[referred.index, "inspected"] == referred.astype(float)).all()
    assert set(outbound["referral"]) <= {"none", "model", "random", "explore", "officer"}
    assert outbound["selection_probability"].between(0, 1, inclusive="right").all()

    # Horvitz-Thompson over the exported rows estimates the true number of carriers
    labels = Labels(outbound.reset_index(), outbound["selection_probability"].to_numpy())
    hits = labels.y * labels.weight
    estimate = hits.sum()
    pi = outbound["selection_probability"].to_numpy()
    se = np.sqrt((labels.y * (1 - pi) / pi ** 2).sum())
    true_total = sum(carrier[c] for c in outbound.index)
    assert abs(estimate - true_total) < 3 * se + 1, (estimate, true_total, se)
    naive = labels.y.sum() / max(labels.resolved.sum(), 1) * len(outbound)
    assert abs(naive - true_total) > abs(estimate - true_total)   # the naive rate is biased

    trained = runner.invoke(main, ["train", "--data", str(out), "--registry",
                                   str(tmp_path / "next")])
    assert trained.exit_code == 0, trained.output
    assert "registered model" in trained.output


def _lookout_pick(app, client, auth):
    """A plate on a lookout, scored: referred by the lookout."""
    assert client.post("/v1/lookouts", headers=auth["analyst"], json={
        "plate_id": "P9", "reason": "tip", "expires_at": soon()}).status_code == 201
    answer = client.post("/v1/score", json=outbound(plate_id="P9"), headers=auth["officer"])
    assert answer.json["refer"] is True
    return app.extensions["southbound.store"]


def _exported(store):
    text = export_frame(store)
    return text.set_index("crossing_id"), parse_frame(text).frame.set_index("crossing_id")


def test_a_lookout_pick_is_exported_as_lookout_with_probability_1(app, client, auth):
    store = _lookout_pick(app, client, auth)
    text, frame = _exported(store)
    assert (text.loc["o1", "referral"], text.loc["o1", "selection_probability"]) == ("lookout", "1.0")
    assert frame.loc["o1", "referral"] == "lookout"


def test_a_store_holding_officer_for_a_past_lookout_pick_exports_lookout(app, client, auth):
    store = _lookout_pick(app, client, auth)
    client.post("/v1/score", json=outbound(2, plate_id="P2"), headers=auth["officer"])
    assert client.post("/v1/crossings/o2/outcome", json={"inspected": True, "seizure": False},
                       headers=auth["officer"]).status_code == 201
    with store.engine.begin() as conn:   # as the service stored lookout picks before
        conn.execute(sa.update(crossings).where(crossings.c.crossing_id == "o1")
                     .values(referral="officer"))
    text, _ = _exported(store)
    assert (text.loc["o1", "referral"], text.loc["o1", "selection_probability"]) == ("lookout", "1.0")
    # an officer's own pick stays officer, with no selection probability
    assert (text.loc["o2", "referral"], text.loc["o2", "selection_probability"]) == ("officer", "")


def test_exported_cells_a_spreadsheet_would_run_are_neutralised(app, client, auth, runner,
                                                                 tmp_path, database_url,
                                                                 monkeypatch):
    """The export is opened in spreadsheets: a make or an id that begins with =, +, -
    or @ is written after a single quote; the numbers stay numbers, and the file is
    still a log train reads."""
    import csv
    formula = '=HYPERLINK("http://x.example","open")'
    body = outbound(1, crossing_id="@evil", plate_id="+P1", vehicle_make=formula,
                    carrier_id="-C1", manifest_value_usd=1250.5)
    assert client.post("/v1/score", json=body, headers=auth["officer"]).status_code == 201
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", database_url)
    out = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--since", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["crossing_id"], row["plate_id"], row["carrier_id"], row["vehicle_make"]) == (
        "'@evil", "'+P1", "'-C1", "'" + formula)
    assert row["manifest_value_usd"] == "1250.5" and row["vehicle_model_year"] == "2024"
    assert read_log(out).frame.loc[0, "vehicle_make"] == "'" + formula
