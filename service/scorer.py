"""Scoring one outbound crossing online: history from the store, the features, the
recipe of :func:`scoring.score.score_one` (model, band, reasons, the online policy's
decision), then the result stored.

The crossing, its score, the challenger's shadow score (when one is in shadow) and
the audit row are committed in one transaction before the answer. A repeated
crossing_id gets the stored answer back when the crossing is the same, and a 409 when
it is not; an inbound crossing stored under the id is moved aside
(:func:`service.store.tables.aside_key`), never a reason to refuse. The port's window of
recent scores (its referral threshold) is read from the store when the worker's copy is
``THRESHOLD_REFRESH_SECONDS`` old, so that every worker and instance follows the same one.
"""
from __future__ import annotations

import hashlib
import json
import time

import sqlalchemy as sa

from scoring.contract import OUTCOME_COLUMNS, parse_record, show_json
from scoring.features import FEATURES, LAST_INBOUND_PORT, feature_record
from scoring.policy import exploration_cell
from scoring.reasons import SELECTED
from scoring.score import score_one
from service.errors import ApiError, from_contract
from service.store import crossings, now_us, scores

def fingerprint(record):
    """A crossing's identity for idempotency: its canonical contract values."""
    body = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def parse_crossing(body, direction, prefix=""):
    """Check a crossing sent to the API; a 400 names the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "a crossing must be a JSON object", prefix.rstrip(".") or None)
    if direction == "outbound":
        for name in OUTCOME_COLUMNS:
            if body.get(name) not in (None, ""):
                raise ApiError(400, "invalid_value", "outcomes are recorded with "
                               "POST /v1/crossings/<id>/outcome, not sent for scoring",
                               prefix + name)
    try:
        record = parse_record(body, show=show_json)
    except Exception as exc:  # ContractError
        raise from_contract(exc, prefix) from None
    if record["direction"] != direction:
        where = "/v1/score" if record["direction"] == "outbound" else "/v1/crossings"
        raise ApiError(400, "invalid_value", f"a {record['direction']} crossing goes to {where}",
                       prefix + "direction")
    return record


def public_answer(score_row, reasons=None):
    """The officer's view of a stored score (no referral source, no probability of pick).

    ``reasons``: the reasons as stored in ``score_row["reasons"]``, already parsed.
    """
    return {"crossing_id": score_row["crossing_id"],
            "risk_score": score_row["risk_score"], "risk_band": score_row["risk_band"],
            "refer": bool(score_row["refer"]),
            "reasons": json.loads(score_row["reasons"]) if reasons is None else reasons,
            "model_version": score_row["model_version"]}


def officer_view(answer):
    """What an officer is shown of a scored crossing (:func:`public_answer`, or a lane row).

    A referral's score, band and reasons are withheld: every referral reads "selected for
    inspection", whatever picked it (a lookout, the random share, exploration or the
    model). A random or exploration pick scores low, and its strongest reasons are few and
    weak, so any of them would tell it from a model pick; an officer who could tell would
    search it less hard, and the random share's outcomes would stop being the unbiased
    sample that training and the reports rest on. Analysts see everything.
    """
    if not answer["refer"]:
        return answer
    return answer | {"risk_score": None, "risk_band": None, "reasons": [dict(SELECTED)]}


def shown(answer, role):
    """``answer`` as the caller's ``role`` may see it (:func:`officer_view` for officers)."""
    return officer_view(answer) if role == "officer" else answer


def score_crossing(store, served, metrics, record, actor, rng, holder=None, client=None):
    """Score, decide, store and answer one parsed outbound crossing.

    ``holder``: the worker's :class:`~service.holder.ModelHolder`, whose challenger
    (if any) scores the same features in shadow. The challenger never changes the
    decision, the answer or the reasons, and draws nothing from ``rng``; one that
    fails is dropped and the crossing is scored without it. A repeated crossing's stored
    answer is a look-up: audited (``score_repeat``) with ``client``, the caller's address.

    Returns
    -------
    (answer, created) : (dict, bool)
    """
    digest = fingerprint(record)
    port = record["port_code"]
    policy = served.policy
    with store.engine.connect() as conn:
        history = store.history(conn, record)
        lookout = store.has_lookout(conn, record["plate_id"], now_us())
        now = time.monotonic()
        if policy.stale(port, now):  # the window every worker and instance shares
            policy.seed(port, store.recent_scores(conn, port, policy.window), now)
        features = feature_record(record, history)
        scored = score_one(served.model, features, policy.config.bands, groups=served.groups,
                           decide=_decide(policy, features, port, lookout, rng))
        decision = scored.decision
        shadow = _shadow(holder, features, port, policy.config, metrics)
        stored_record = dict(record, referral=decision.source,
                             selection_probability=decision.selection_probability)
        row = _score_row(record, served, policy, features, scored, digest)
        audited = dict(model_version=served.version, policy_version=policy.version,
                       risk_score=round(scored.probability, 6), refer=decision.refer,
                       source=decision.source)
        aside = False
        while True:
            try:
                _store(store, conn, stored_record, row, shadow, actor, audited, aside)
                break
            except sa.exc.IntegrityError:
                if not aside and _held_by_inbound(conn, record["crossing_id"]):
                    aside = True  # an inbound crossing holds the id: it moves aside
                    continue
                # a repeated crossing_id (the primary key says so): answer as stored, or 409
                existing = _existing(conn, record)
                if existing is None:
                    raise
                with store.write(conn):  # the stored answer is a look-up: on record
                    store.audit(conn, actor, "score_repeat", target=record["crossing_id"],
                                model_version=existing["model_version"], client=client)
                return existing, False
    policy.observe(port, scored.probability)
    metrics.scores.labels(port, scored.band).inc()
    if decision.refer:
        metrics.referrals.labels(port).inc()
    return public_answer(row, scored.reasons), True


def _store(store, conn, record, row, shadow, actor, audited, aside):
    """Commit the crossing, its score, its shadow score and the audit row together;
    with ``aside``, first move the inbound crossing stored under the same id to its
    aside key (an inbound id never keeps an outbound crossing out: its score, its
    lookout and its outcomes need the id)."""
    with store.write(conn):
        if aside:
            store.set_inbound_aside(conn, record["crossing_id"])
        store.insert_crossing(conn, record)
        store.insert_score(conn, row)
        if shadow is not None:
            store.insert_shadow(conn, dict(shadow, crossing_id=record["crossing_id"]))
        store.audit(conn, actor, "score", target=record["crossing_id"], **audited,
                    **({"inbound_set_aside": True} if aside else {}))


def _held_by_inbound(conn, crossing_id):
    """Whether an inbound crossing is stored under ``crossing_id`` itself."""
    return conn.execute(sa.select(crossings.c.direction).where(
        crossings.c.crossing_id == crossing_id)).scalar() == "inbound"


def _decide(policy, features, port, lookout, rng):
    """The online policy's decision of one crossing, as :func:`score_one` calls it: the
    plate never seen and the (hour, vehicle class) cell are exploration's cues."""
    unseen = features["plate_days_since_first_seen"] != features["plate_days_since_first_seen"]
    cell = exploration_cell(features["local_hour"], features["vehicle_class"])
    return lambda probability: policy.decide(probability, port, lookout, rng.random(), unseen,
                                             cell)


def _score_row(record, served, policy, features, scored, digest):
    """The ``scores`` row of one scored crossing."""
    decision = scored.decision
    return {"crossing_id": record["crossing_id"], "scored_at": now_us(),
            "port_code": record["port_code"], "model_version": served.version,
            "policy_version": policy.version, "risk_score": scored.probability,
            "raw_score": scored.raw, "risk_band": scored.band, "refer": decision.refer,
            "referral_source": decision.source,
            "selection_probability": decision.selection_probability,
            "reasons": json.dumps(scored.reasons),
            "features": json.dumps({k: _json(features[k]) for k in
                                    list(FEATURES) + [LAST_INBOUND_PORT]}),
            "request_sha256": digest}


def _shadow(holder, features, port, config, metrics):
    """The challenger's shadow_scores row, or None (no challenger, or it failed: dropped)."""
    challenger = holder.challenger if holder is not None else None
    if challenger is None or challenger.version == holder.served.version:
        return None
    try:
        row = challenger.score(features, port, config, now_us())
    except Exception as exc:  # noqa: BLE001 - a broken challenger never fails a score
        holder.drop_shadow(exc)
        metrics.shadow_errors.labels(challenger.version).inc()
        return None
    metrics.shadow_scores.labels(challenger.version).inc()
    return row


#: what makes an inbound crossing the same one again (POST /v1/crossings is idempotent)
IDENTITY = ("crossing_id", "crossed_at", "direction", "port_code", "plate_id",
            "vehicle_class", "carrier_id")


def repeat_conflict(record, stored, digest=None):
    """Why the API refuses (409) a crossing whose ``crossing_id`` the store already
    holds, or None when it is the stored crossing again (answered as stored).

    ``stored``: the crossings row; ``digest``: the ``request_sha256`` of its score, None
    when it was stored unscored (an inbound crossing). An outbound crossing is the same
    when its canonical values are (:func:`fingerprint`); an inbound one when its
    :data:`IDENTITY` columns are.
    """
    if record["direction"] == "outbound":
        if digest is None:
            return "crossing_id is already stored as an inbound crossing"
        if digest != fingerprint(record):
            return "crossing_id was already scored with different values"
        return None
    if fingerprint({k: stored[k] for k in IDENTITY}) != fingerprint(
            {k: record[k] for k in IDENTITY}):
        return "crossing_id is already stored with different values"
    return None


def _existing(conn, record):
    """The stored answer for a repeated crossing_id, None if new; 409 if it differs."""
    crossing_id = record["crossing_id"]
    row = conn.execute(sa.select(scores).where(scores.c.crossing_id == crossing_id)
                       ).mappings().first()
    if row is None and not conn.execute(sa.select(crossings.c.crossing_id)
                                        .where(crossings.c.crossing_id == crossing_id)).first():
        return None
    conflict = repeat_conflict(record, None, None if row is None else row["request_sha256"])
    if conflict:
        raise ApiError(409, "conflict", conflict, "crossing_id")
    return public_answer(row)


def _json(value):
    if isinstance(value, float) and value != value:
        return None
    return value
