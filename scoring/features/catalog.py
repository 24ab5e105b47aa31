"""The feature catalog: every context, history and derived feature, declared once.

Context features read the crossing alone (:mod:`scoring.features.context`); history
features are :class:`~scoring.features.spec.HistoryFeature` specs of a plate's, a
carrier's or a port's earlier rows (executed in-process by
:mod:`scoring.features.history_numpy`, in the store by
:mod:`scoring.features.history_sql`, on Dask by :mod:`scoring.features.history_dask`);
derived features are arithmetic of the others' values. The names are checked when the
catalog is declared: unique, and a derived feature's inputs declared before it.
"""
from __future__ import annotations

from scoring.features.spec import DerivedFeature, HistoryFeature
from scoring.features.stats import DAY_US, HOUR_US

HISTORY = (
    HistoryFeature("plate_out_24h", "plate", "count", "outbound", DAY_US,
                   help="outbound crossings of the plate in the last 24 h"),
    HistoryFeature("plate_out_7d", "plate", "count", "outbound", 7 * DAY_US,
                   help="outbound crossings of the plate in the last 7 days"),
    HistoryFeature("plate_out_30d", "plate", "count", "outbound", 30 * DAY_US,
                   help="outbound crossings of the plate in the last 30 days"),
    HistoryFeature("plate_in_30d", "plate", "count", "inbound", 30 * DAY_US,
                   help="inbound crossings of the plate in the last 30 days"),
    HistoryFeature("plate_hours_since_inbound", "plate", "hours_since_last", "inbound",
                   help="hours since the plate last entered the US"),
    HistoryFeature("plate_inbound_other_port", "plate", "last_other_port", "inbound",
                   help="1 when the plate last entered by another port"),
    HistoryFeature("plate_hours_since_outbound", "plate", "hours_since_last", "outbound",
                   help="hours since the plate last left the US"),
    HistoryFeature("plate_days_since_first_seen", "plate", "days_since_first",
                   help="days since the plate's first crossing in the log"),
    HistoryFeature("plate_ports_used", "plate", "distinct_ports",
                   help="distinct ports the plate has crossed at"),
    HistoryFeature("plate_prior_inspections", "plate", "count", "outbound",
                   outcome="inspected", help="earlier secondary inspections of the plate"),
    HistoryFeature("plate_prior_seizures", "plate", "count", "outbound",
                   outcome="seizure", help="earlier seizures from the plate"),
    HistoryFeature("carrier_out_7d", "carrier", "count", "outbound", 7 * DAY_US,
                   help="outbound crossings of the motor carrier in the last 7 days"),
    HistoryFeature("carrier_out_30d", "carrier", "count", "outbound", 30 * DAY_US,
                   help="outbound crossings of the motor carrier in the last 30 days"),
    HistoryFeature("carrier_days_since_first_seen", "carrier", "days_since_first",
                   help="days since the carrier's first crossing in the log"),
    HistoryFeature("carrier_prior_inspections", "carrier", "count", "outbound",
                   outcome="inspected", help="earlier inspections of the carrier's trucks"),
    HistoryFeature("carrier_prior_seizures", "carrier", "count", "outbound",
                   outcome="seizure", help="earlier seizures from the carrier's trucks"),
    HistoryFeature("plate_prior_referrals", "plate", "count", "outbound", outcome="referred",
                   help="earlier outbound crossings of the plate referred to secondary "
                        "(any pick: random, explore, model, officer, lookout)"),
    # 7 days, not 28: with 28 the port's query (thousands of rows at a busy port) took
    # the score p99 from 57 to 127 ms on a store holding a 120-day world
    HistoryFeature("port_hour_share_7d", "port", "hour_share", "outbound", 7 * DAY_US,
                   band_us=HOUR_US,
                   help="share of the port's outbound crossings in the last 7 days within "
                        "1 h of this crossing's time of day (UTC time of day, so local "
                        "time but for a daylight-saving change inside the window)"),
    # the lookback bounds a port's pass: at the border's volume a busy port makes some 24M
    # near pairs a day, and without it the pairs kept grow with the whole history
    HistoryFeature("plate_convoy_partners", "plate", "convoy_partners", "outbound",
                   10 * 60 * 1_000_000, lookback_us=7 * DAY_US,
                   help="other plates that left by this port in the 10 minutes before this "
                        "crossing and had left by it within 10 minutes of this plate in the "
                        "7 days before"),
    # behaviour against the plate's own routine (issue 25): low when it leaves at an hour
    # or by a port it does not use; 14 days, not 30: each band is two prefix counts, and a
    # commuter's routine shows within two weeks
    HistoryFeature("plate_hour_share_14d", "plate", "hour_share", "outbound", 14 * DAY_US,
                   band_us=HOUR_US,
                   help="share of the plate's outbound crossings in the last 14 days within "
                        "1 h of this crossing's time of day (UTC time of day; NaN without "
                        "such crossings)"),
    HistoryFeature("plate_port_share", "plate", "port_share",
                   help="share of the plate's earlier crossings (either way) at this "
                        "crossing's port (NaN for a plate never seen)"),
    HistoryFeature("carrier_value_share", "carrier", "value_share", "outbound",
                   help="share of the carrier's earlier outbound crossings declaring a load "
                        "value whose value was within a factor of about 2 of this one's "
                        "(same octave or the next; NaN when this crossing declares none or "
                        "the carrier never declared one)"),
    HistoryFeature("plate_value_share", "plate", "value_share", "outbound",
                   help="share of the plate's earlier outbound crossings declaring a load "
                        "value whose value was within a factor of about 2 of this one's "
                        "(NaN when this crossing declares none or the plate never did)"),
    # second order: a tractor that often declared a load unusual for its carrier (a
    # truck front hauling something else under a carrier's name); 0.25 screened on
    # world c, 0.5 gains too (benchmarks/README.md)
    HistoryFeature("plate_unusual_loads", "plate", "count", "outbound",
                   below=("carrier_value_share", 0.25),
                   help="earlier outbound crossings of the plate whose declared load value "
                        "was unusual for its carrier then (carrier_value_share under 0.25)"),
    # not model inputs: they feed the derived features below
    HistoryFeature("plate_out_all", "plate", "count", "outbound", model_input=False,
                   help="earlier outbound crossings of the plate, all history"),
    HistoryFeature("plate_mean_gap_hours", "plate", "mean_gap_hours", model_input=False,
                   help="mean hours between the plate's earlier crossings (either way)"),
)

#: each history spec by its name (a ``below`` spec names its base)
HISTORY_BY_NAME = {spec.name: spec for spec in HISTORY}

DERIVED = (
    DerivedFeature("plate_out_per_day", ("plate_out_all", "plate_days_since_first_seen"),
                   lambda n, days: n / (days + 1),
                   help="the plate's earlier outbound crossings per day since first seen, "
                        "+1 day (NaN for a plate never seen)"),
    DerivedFeature("plate_turnaround_ratio", ("plate_hours_since_inbound",
                                              "plate_mean_gap_hours"),
                   lambda hours, gap: hours / (gap + 1),
                   help="hours since the last inbound crossing over the plate's mean hours "
                        "between earlier crossings, +1 h (NaN without an inbound crossing "
                        "or with fewer than 2 earlier crossings)"),
    DerivedFeature("plate_burst_7_30", ("plate_out_7d", "plate_out_30d"),
                   lambda week, month: week / (month * 7 / 30 + 1),
                   help="outbound crossings in the last 7 days over the 7 days' share of "
                        "the last 30 days', +1"),
    DerivedFeature("registration_age_first_seen", ("registration_age_days",
                                                   "plate_days_since_first_seen"),
                   lambda age, days: age - days,
                   help="registration age in days when the plate was first seen (NaN "
                        "when either is missing)"),
)
#: not a model input: the port name a reason quotes ("entering at Laredo")
LAST_INBOUND_PORT = "plate_last_inbound_port"

# --- context features ------------------------------------------------------

#: (name, kind, help); kind "category" columns are encoded by the model
CONTEXT = (
    ("port_code", "category", "port of the crossing"),
    ("local_hour", "number", "hour of day at the port (0-23)"),
    ("local_weekday", "number", "day of week at the port (0 = Monday)"),
    ("vehicle_class", "category", "personal, truck or bus"),
    ("body_type", "category", "body type"),
    ("plate_country", "category", "country part of the plate jurisdiction"),
    ("plate_jurisdiction", "category", "state or province that issued the plate"),
    ("vehicle_make", "category", "make"),
    ("vehicle_age_years", "number", "local year of crossing minus model year"),
    ("registration_age_days", "number", "days since registration or title (0 read as "
                               "unknown: exports write 0 for a missing age)"),
    ("occupants", "number", "people in the vehicle"),
    ("trailer_empty", "number", "truck declared empty (1/0)"),
    ("manifest_value_usd", "number", "declared value of a truck's load"),
)
#: features that carry the same information, so that one cannot be switched off alone:
#: naming any member, or the group, switches off every member (plate country is the
#: country part of the plate jurisdiction; either stands in for national origin)
FEATURE_GROUPS = {"plate_issuer": ("plate_country", "plate_jurisdiction")}

FEATURES = (tuple(name for name, _, _ in CONTEXT)
            + tuple(h.name for h in HISTORY if h.model_input) + tuple(d.name for d in DERIVED))
CATEGORICAL = tuple(name for name, kind, _ in CONTEXT if kind == "category")
HELP = ({name: text for name, _, text in CONTEXT} | {h.name: h.help for h in HISTORY}
        | {d.name: d.help for d in DERIVED})
#: context features of a truck only (missing for other vehicles)
TRUCK_ONLY = ("trailer_empty", "manifest_value_usd")


def _check_declared():
    """Names unique; a derived feature's inputs declared before it; the last inbound
    port is the column a spec adds (checked at import)."""
    names = [name for name, _, _ in CONTEXT] + [h.name for h in HISTORY]
    for spec in DERIVED:
        unknown = [i for i in spec.inputs if i not in names]
        if unknown:
            raise ValueError(f"{spec.name}: inputs {unknown} are not declared before it")
        names.append(spec.name)
    for spec in HISTORY:
        if spec.below is None:
            continue
        base = HISTORY_BY_NAME.get(spec.below[0])
        if (base is None or HISTORY.index(base) > HISTORY.index(spec)
                or not base.statistic.base or base.window_us is not None
                or base.entity == spec.entity or base.direction != spec.direction):
            raise ValueError(f"{spec.name}: below's base {spec.below[0]!r} is no all-history "
                             f"base statistic of another entity, same direction, declared "
                             f"before it")
    names += [name for h in HISTORY for name, _ in h.extras]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature names declared twice: {repeated}")
    if LAST_INBOUND_PORT not in names:
        raise ValueError(f"{LAST_INBOUND_PORT} is no column of a history spec")


_check_declared()

def resolve_exclusions(names):
    """Expand switched-off feature names (and groups) to feature names; reject unknowns.

    A feature in a :data:`FEATURE_GROUPS` group takes its whole group with it, whichever
    member is named: a model without ``plate_jurisdiction`` but with ``plate_country``
    (or the other way round) would still see where the plate was issued.

    >>> resolve_exclusions(["plate_jurisdiction"])
    ('plate_country', 'plate_jurisdiction')
    >>> resolve_exclusions(["plate_country"])
    ('plate_country', 'plate_jurisdiction')
    """
    out = set()
    for name in names:
        if name in FEATURE_GROUPS:
            out.update(FEATURE_GROUPS[name])
        elif name in FEATURES:
            out.add(name)
            for members in FEATURE_GROUPS.values():
                if name in members:
                    out.update(members)
        else:
            raise ValueError(f"feature {name!r} is not one of: "
                             + ", ".join(sorted(set(FEATURES) | set(FEATURE_GROUPS))))
    return tuple(sorted(out))

