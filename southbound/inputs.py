"""The command line's other inputs, checked as the crossing logs are: the generator's
truth files and referral policy files. A bad one is a ContractError naming the file
(and the row, column and value where there is one), so the command exits 2 with one
line."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.contract import ContractError, show_value


def truth_table(path, columns):
    """The generator's truth file, checked: ``columns`` present, ``carrier`` a boolean,
    the count columns numbers; ContractError (exit 2) naming file, row, column, value."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"not a CSV truth file: {exc}", source=path) from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ContractError(
            f"the truth file lacks the column(s) {', '.join(missing)} (it has: "
            f"{', '.join(map(str, table.columns[:8])) or 'none'})", source=path,
            row=1, column=missing[0])
    flags = table["carrier"].str.strip().str.lower()
    refuse_first(path, table, "carrier", ~flags.isin(["true", "false", "1", "0"]),
                  "is not true or false")
    out = pd.DataFrame({"crossing_id": table["crossing_id"],
                        "carrier": flags.isin(["true", "1"]).to_numpy()})
    for column in columns:
        if column in ("crossing_id", "carrier"):
            continue
        numbers = pd.to_numeric(table[column].replace("", "0"), errors="coerce")
        refuse_first(path, table, column, numbers.isna() | (numbers < 0),
                      "is not a number >= 0")
        out[column] = numbers.to_numpy()
    return out


def refuse_first(path, table, column, bad, why):
    if bad.any():
        i = int(np.flatnonzero(np.asarray(bad))[0])
        raise ContractError(
            f"value {show_value(table[column].iloc[i])} {why}", source=path,
            row=i + 2, column=column)


def read_policy(path):
    """The referral policy file; ContractError (exit 2) naming the file and the key."""
    import tomllib
    from scoring.policy import PolicyConfig
    try:
        return PolicyConfig.from_toml(path)
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"not a TOML file: {exc}", source=path) from None
    except (ValueError, TypeError) as exc:
        raise ContractError(f"not a referral policy: {exc}", source=path) from None


def truth_for(path, outbound, log_ids=None):
    """The truth's ``carrier`` flag aligned with ``outbound`` (plus ``matched``);
    ContractError when no crossing_id of the file matches one of ``outbound``.

    A truth file may cover more than the log (the truth of a whole world beside a part
    of its log): with ``log_ids`` (every crossing_id the command read), the count of the
    file's ids that match none of them is kept in ``attrs["unmatched"]`` as
    ``(unmatched, ids in the file)``, for a warning.
    """
    table = truth_table(path, ("crossing_id", "carrier"))
    carrier = pd.Series(table["carrier"].to_numpy(), index=table["crossing_id"])
    carrier = carrier[~carrier.index.duplicated()]
    matched = outbound["crossing_id"].isin(carrier.index)
    if not matched.any():
        raise ContractError(
            f"no crossing_id of the truth file matches a crossing of the log (e.g. "
            f"{show_value(str(table['crossing_id'].iloc[0]) if len(table) else '')});"
            " is it the truth of another log?", source=path, column="crossing_id")
    rows = pd.DataFrame({"carrier": carrier.reindex(outbound["crossing_id"]).fillna(False)
                         .astype(bool).to_numpy()}, index=outbound.index)
    rows["matched"] = matched.to_numpy()
    if log_ids is not None:
        known = pd.Index(log_ids)
        rows.attrs["unmatched"] = (int((~carrier.index.isin(known)).sum()), len(carrier))
    return rows


def unmatched_truth_warning(path, rows):
    """The warning line for a truth file some of whose ids match no crossing of the log
    (:func:`truth_for` with ``log_ids``), or None when every id matches."""
    unmatched, ids = rows.attrs.get("unmatched", (0, 0))
    if not unmatched:
        return None
    return (f"{path}: {unmatched:,} of the {ids:,} crossing_ids of the truth file match no "
            "crossing of the log and are ignored (a truth file may cover more than the log)")
