"""The scoring recipe written once: one crossing's path and a batch's give the same
probability, band, referral and reasons; the result type is the same."""
import numpy as np
import pandas as pd
import pytest

from scoring.features import feature_frame
from scoring.policy import PolicyConfig, ScoreQuantiles
from scoring.reasons import group_matrix
from scoring.score import OUTPUT_COLUMNS, Scored, score_batch, score_one


@pytest.fixture(scope="module")
def feats(world_frame):
    return feature_frame(world_frame).head(400)


def _record(feats, i):
    """Row ``i`` of a feature frame as the service's feature mapping: missing text None."""
    return {k: (None if feats[k].dtype.kind not in "fiub" and pd.isna(v) else v)
            for k, v in feats.iloc[i].items()}


def test_one_crossing_scores_as_in_a_batch(trained, feats):
    model, manifest = trained
    config = PolicyConfig(default_capacity=0.5)  # some rows referred, some not
    quantiles = ScoreQuantiles.from_manifest(manifest)
    batch = score_batch(model, feats, config, quantiles)
    assert isinstance(batch, Scored) and len(batch.probability) == len(feats)
    assert batch.refer.any() and not batch.refer.all()
    groups = group_matrix(model.features_)
    for i, port in enumerate(feats["port_code"]):
        one = score_one(model, _record(feats, i), config.bands, groups=groups,
                        threshold=quantiles.threshold(port, config.capacity_of(port)))
        assert one.probability == pytest.approx(batch.probability[i], rel=1e-9, abs=1e-12)
        assert (one.band, one.refer) == (batch.band[i], batch.refer[i])
        assert "; ".join(r["text"] for r in one.reasons) == batch.reasons[i]


def test_a_shadow_score_has_no_reasons_and_a_decision_is_called_once(trained, feats):
    model, _ = trained
    features = _record(feats, 0)
    shadow = score_one(model, features, threshold=0.0)
    assert shadow.reasons is None and shadow.refer is True and shadow.threshold == 0.0
    calls = []

    def decide(probability):
        calls.append(probability)
        from scoring.policy import Decision
        return Decision(True, "random", 0.01)

    online = score_one(model, features, groups=group_matrix(model.features_), decide=decide)
    assert calls == [online.probability] and online.decision.source == "random"
    assert online.reasons[-1]["factor"] == "selection"   # a referral's reasons
    assert online.raw == pytest.approx(shadow.raw, abs=1e-12)


def test_an_empty_batch_gives_typed_empty_columns(trained, feats):
    frame = score_batch(trained[0], feats.iloc[:0]).frame([])
    assert tuple(frame.columns) == OUTPUT_COLUMNS and frame.empty
    assert [str(t) for t in frame.dtypes] == ["object", "float64", "object", "bool", "object"]
