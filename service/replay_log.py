"""A crossing log file replayed through the API in-process (``southbound replay``): read
as the API receives it, checked whole before anything is sent, then sent with an
officer token of its own, revoked when it ends. The rows go through
:mod:`service.replay`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring import contract


def read_replayed(path, since_us=None):
    """The log at ``path`` as text cells, every row checked against the contract (a
    ContractError names file, row, column, value); with ``since_us`` only the rows that
    crossed from then on. Returns ``(log, lines, whole)``: the rows to send, their line
    numbers in the file, and every row of it."""
    contract.read_log(path)
    log = whole = pd.read_csv(path, dtype=str, keep_default_na=False)
    lines = np.arange(2, len(log) + 2)
    if since_us is not None:
        stamps = pd.to_datetime(log["crossed_at"], utc=True, format="ISO8601")
        keep = (stamps >= pd.Timestamp(since_us, unit="us", tz="UTC")).to_numpy()
        log, lines = log.loc[keep], lines[keep]
    return log, lines, whole


def truth_outcomes(table):
    """The outcome secondary would find for each referred crossing, from a checked truth
    table (crossing_id, carrier, firearms, rounds, currency_usd)."""
    from service.replay import truth_outcome
    return truth_outcome(dict(zip(table["crossing_id"], zip(
        table["carrier"], table["firearms"], table["rounds"], table["currency_usd"]))))


def replay_log(log, lines, source, outcome=None, checked=None, progress=None):
    """Check every row of ``log`` as the API would (``lines``: their line numbers in
    ``source``), then send those not stored as they are already. ``checked(rows,
    stored)`` is called between the two. Returns ``(answers, stored, sent)``."""
    from service import create_app
    from service.auth import create_token, revoke_token
    from service.replay import check, replay as send
    # a back-fill is one client sending as fast as it can: no per-token limit
    app = create_app({"LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_MINUTE": 0})
    already = check(app, log, source, lines=lines)
    stored = int(already.sum())
    log = log.loc[~already]
    if checked:
        checked(len(already), stored)
    from models.files import login_name
    store = app.extensions["southbound.store"]
    # the rows it writes are audited under the token's name: the login that sent them
    login = login_name()
    token = create_token(store, "officer", f"replay by {login}", actor=login)
    try:
        answers = send(app.test_client(), {"Authorization": f"Bearer {token}"}, log, outcome,
                       progress=progress)
    finally:
        revoke_token(store, token=token, actor=login)
    return answers, stored, len(log)
