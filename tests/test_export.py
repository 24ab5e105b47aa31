"""The service's store exported as a log, and trained on: without selection bias."""
import numpy as np
import pandas as pd
import pytest

from scoring.contract import read_log
from southbound.cli import main
from tests.replay import replay
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
