"""Closed-loop simulation of referral policies: what each would find, and learn, over weeks.

From a model trained on the log before ``start``, the simulation steps through the
rest of the log a day at a time. Each day the model in use scores the day's outbound
crossings (features from the log as this policy has rewritten it so far), the
online :class:`~scoring.policy.ReferralPolicy` (its per-port window of recent scores,
carried over retrains as the service carries it) decides each crossing in time
order, and the truth file reveals what secondary finds: a carrier is found with
probability ``detection``. The day's outcome columns (``referral``,
``selection_probability``, ``inspected``, ``seizure`` and the amounts) are then
**replaced** by the simulated ones, so later features and every retrain see only
what this policy would have found. The model retrains every ``retrain_days`` on
every row before the day with the production ``train``; a retrain the data refuses
keeps the previous model, and the result says so.

One simplification: a day's crossings are scored with the day's earlier outcomes
not yet known (as a nightly batch would), where the service would see them after
``OUTCOME_LAG_US``. The retrains see every outcome at its time.

Every policy meets the same world: the same random draws per crossing (for the
random share and for detection), so differences between policies are not noise of
the draws. Deterministic per ``seed``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.features import DAY_US, feature_frame
from scoring.policy import ReferralPolicy, ScoreQuantiles, exploration_cell
from training.backtest import truth_carriers
from training.fit import TrainConfig, TrainingError, canonical_order, train

#: the outcome columns a simulated day rewrites
OUTCOMES = ("referral", "selection_probability", "inspected", "seizure", "firearms_seized",
            "rounds_seized", "currency_seized_usd")
#: the last weeks on which the model in use at the end is graded
LAST_WEEKS = 4


@dataclass(frozen=True)
class SimConfig:
    """When to start, how often to retrain, how well secondary finds what is there."""

    start_us: int
    retrain_days: int | None = 7
    detection: float = 0.85
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if not 0 < self.detection <= 1:
            raise ValueError(f"detection {self.detection!r} is not in (0, 1]")
        if self.retrain_days is not None and self.retrain_days < 1:
            raise ValueError(f"retrain every {self.retrain_days!r} days: at least 1")


class SimulationError(ValueError):
    """The log cannot be simulated as asked (no rows after the start, ...)."""


def simulate(frame, truth, policies, config, progress=lambda message: None):
    """Run each policy over the log from ``config.start_us`` on, side by side.

    Parameters
    ----------
    frame : DataFrame
        Canonical crossing log.
    truth : DataFrame
        The truth file: ``crossing_id``, ``carrier``, ``firearms``, ``rounds``,
        ``currency_usd``.
    policies : dict
        Name to :class:`~scoring.policy.PolicyConfig`.

    Returns
    -------
    dict
        ``policies``: per policy its weeks (inspected, seizures found, true carriers
        caught, carriers crossing), totals, recall, the retrains (and those refused)
        and the recall at capacity of the model in use on the last weeks; ``legacy``:
        the same figures of the log's own policy; the period and the settings.
    """
    frame = canonical_order(frame).reset_index(drop=True)
    times = frame["crossed_at"].to_numpy(np.int64)
    outbound = (frame["direction"] == "outbound").to_numpy()
    simulated = outbound & (times >= config.start_us)
    if not simulated.any():
        raise SimulationError("no outbound crossing at or after the start: start earlier")
    if not (outbound & (times < config.start_us)).any():
        raise SimulationError("no outbound crossing before the start to train the first "
                              "model on: start later")
    carrier = truth_carriers(truth, frame["crossing_id"])
    table = truth.drop_duplicates("crossing_id").set_index("crossing_id")
    amounts = {name: table[column].reindex(frame["crossing_id"]).fillna(0.0).to_numpy(float)
               for name, column in (("firearms_seized", "firearms"),
                                    ("rounds_seized", "rounds"),
                                    ("currency_seized_usd", "currency_usd"))}
    rng = np.random.default_rng(config.seed)
    draws = rng.random(len(frame))          # the random share's draw, per crossing
    found_draws = rng.random(len(frame))    # whether secondary finds a carrier's load
    days = _days(config.start_us, times[simulated].max())
    clock = _Weeks(progress, days)
    clock.say(f"training the first model on the rows before {_day(config.start_us)}")
    first = train(frame.loc[times < config.start_us], config.train,
                  progress=lambda message: None)
    weeks = _week_index(times, config.start_us)
    out = {"start": _day(config.start_us), "end": _day(days[-1] + DAY_US - 1),
           "days": len(days), "detection": config.detection,
           "retrain_days": config.retrain_days, "seed": config.seed,
           "first_model_seizures": first[1]["data"].get("labelled", {}).get("seizures"),
           "policies": {},
           "legacy": _legacy(frame, simulated, carrier, weeks)}
    for name, policy_config in policies.items():
        clock.say(f"policy {name}: {len(days)} days, {clock.weeks} "
                  f"week{'' if clock.weeks == 1 else 's'}")
        out["policies"][name] = _run(frame, times, simulated, carrier, amounts, draws,
                                     found_draws, days, weeks, first, policy_config,
                                     config, clock.policy(name))
    return out


def _run(frame, times, simulated, carrier, amounts, draws, found_draws, days, weeks, first,
         policy_config, config, progress):
    log = frame.copy()
    for column in OUTCOMES:  # what this policy finds is all the simulated days will hold
        log.loc[simulated, column] = None if column == "referral" else np.nan
    model, manifest = first
    policy = ReferralPolicy(policy_config, ScoreQuantiles.from_manifest(manifest))
    scores = np.full(len(log), np.nan)
    refer = np.zeros(len(log), dtype=bool)
    retrains, last_train = [], days[0]
    for day in days:
        progress.day(day)
        if (config.retrain_days and day > days[0]
                and day - last_train >= config.retrain_days * DAY_US):
            last_train = day
            try:
                model, manifest = train(log.loc[times < day], config.train,
                                        progress=lambda message: None)
                policy = _carry(policy, policy_config, manifest)
                retrains.append({"day": _day(day), "trees": manifest.get("trees")})
            except TrainingError as exc:
                retrains.append({"day": _day(day), "refused": str(exc)})
                progress(f"retrain on {_day(day)} refused, keeping the previous model: {exc}")
        today = simulated & (times >= day) & (times < day + DAY_US)
        rows = np.flatnonzero(today)
        if not len(rows):
            continue
        seen = times < day + DAY_US
        feats = feature_frame(log.loc[seen], query=today[seen])
        p = model.predict_proba(feats)[:, 1]
        scores[rows] = p
        ports = log["port_code"].to_numpy(object)[rows]
        unseen = np.isnan(feats["plate_days_since_first_seen"].to_numpy(float))
        cells = [exploration_cell(h, c) for h, c in
                 zip(feats["local_hour"].to_numpy(float), feats["vehicle_class"])]
        sources, chances = [], []
        for i, (score, port) in enumerate(zip(p, ports)):
            decision = policy.decide(float(score), port, False, float(draws[rows[i]]),
                                     bool(unseen[i]), cells[i])
            policy.observe(port, float(score))
            refer[rows[i]] = decision.refer
            sources.append(decision.source)
            chances.append(decision.selection_probability)
        looked = refer[rows]
        found = looked & carrier[rows] & (found_draws[rows] < config.detection)
        progress.count(int(looked.sum()), int(found.sum()))
        log.loc[rows, "referral"] = sources
        log.loc[rows, "selection_probability"] = chances
        log.loc[rows, "inspected"] = looked.astype(float)
        log.loc[rows, "seizure"] = np.where(looked, found.astype(float), np.nan)
        for name, values in amounts.items():
            log.loc[rows, name] = np.where(looked, np.where(found, values[rows], 0.0), np.nan)
    progress.day(None)
    seizures = (log["seizure"].to_numpy(float) == 1) & simulated
    result = _figures(simulated, refer, seizures, carrier, weeks)
    result["retrains"] = retrains
    result["retrains_refused"] = sum("refused" in r for r in retrains)
    result["model_recall_last_weeks"] = _model_recall(scores, simulated, carrier, weeks,
                                                      log["port_code"].to_numpy(object),
                                                      policy_config)
    return result


class _Weeks:
    """Progress of a simulation: a line at its start, per policy, and at the end of each
    simulated week of each policy (its inspections and seizures found, the time so far)."""

    def __init__(self, progress, days):
        self.progress, self.days, self.started = progress, days, time.perf_counter()
        self.weeks = (len(days) + 6) // 7
        self.name, self.week, self.looked, self.found = None, None, 0, 0

    def say(self, message):
        self.progress(f"[{time.perf_counter() - self.started:6.1f}s] {message}")

    def policy(self, name):
        self.name, self.week, self.looked, self.found = name, None, 0, 0
        return self

    def __call__(self, message):  # a retrain refused: said among the policy's lines
        self.say(f"{self.name}: {message.strip()}")

    def count(self, looked, found):
        self.looked += looked
        self.found += found

    def day(self, day):
        """A simulated day begins (``None``: the last one ended): a week that ended says
        what it did."""
        week = None if day is None else (day - self.days[0]) // (7 * DAY_US)
        if self.week is not None and week != self.week:
            first = self.days[0] + self.week * 7 * DAY_US
            last = min(first + 6 * DAY_US, self.days[-1])
            self.say(f"{self.name}: week {self.week + 1} of {self.weeks} ({_day(first)}.."
                     f"{_day(last)}): {self.looked:,} inspected, {self.found:,} "
                     f"seizure{'' if self.found == 1 else 's'} found")
            self.looked = self.found = 0
        self.week = week


def _carry(policy, policy_config, manifest):
    """The policy of a retrained model, with the recent-score windows carried over."""
    fresh = ReferralPolicy(policy_config, ScoreQuantiles.from_manifest(manifest),
                           window=policy.window, min_recent=policy.min_recent)
    fresh.carry_over(policy)
    return fresh


def _figures(simulated, inspected, seizures, carrier, weeks):
    """Per week and in all: inspected, seizures found, true carriers caught, carriers."""
    rows = []
    for week in range(int(weeks[simulated].max()) + 1):
        w = simulated & (weeks == week)
        rows.append({"week": week + 1, "inspected": int((inspected & w).sum()),
                     "seizures": int((seizures & w).sum()),
                     "carriers_caught": int((inspected & carrier & w).sum()),
                     "carriers": int((carrier & w).sum())})
    total = {k: sum(r[k] for r in rows) for k in ("inspected", "seizures", "carriers_caught",
                                                 "carriers")}
    total["recall"] = total["carriers_caught"] / total["carriers"] if total["carriers"] else math.nan
    total["hit_rate"] = total["seizures"] / total["inspected"] if total["inspected"] else math.nan
    return {"weeks": rows, "total": total}


def _legacy(frame, simulated, carrier, weeks):
    inspected = frame["inspected"].to_numpy(float) == 1
    seizures = frame["seizure"].to_numpy(float) == 1
    return _figures(simulated, inspected, seizures, carrier, weeks)


def _model_recall(scores, simulated, carrier, weeks, ports, policy_config):
    """True recall of the scores the model in use gave, at each port's capacity, over the
    last :data:`LAST_WEEKS` weeks (how well the policy's model ranks at the end)."""
    last = simulated & (weeks > weeks[simulated].max() - LAST_WEEKS)
    frame = pd.DataFrame({"s": scores[last], "port": ports[last], "c": carrier[last]})
    caught = 0
    for port, group in frame.groupby("port"):
        k = math.ceil(policy_config.capacity_of(port) * len(group))
        caught += int(group.nlargest(k, "s")["c"].sum()) if k else 0
    total = int(frame["c"].sum())
    return {"weeks": int(min(LAST_WEEKS, weeks[simulated].max() + 1)),
            "recall": caught / total if total else math.nan, "carriers": total}


def _days(start, last):
    return list(range(start, int(last) + 1, DAY_US))


def _week_index(times, start):
    return np.where(times >= start, (times - start) // (7 * DAY_US), -1)


def _day(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d")


def format_simulation(result):
    """The side-by-side table of a simulation, as lines of text."""
    names = list(result["policies"]) + ["legacy (the log's own)"]
    figures = list(result["policies"].values()) + [result["legacy"]]
    lines = [f"simulated {result['start']}..{result['end']} ({result['days']} days), "
             f"detection {result['detection']:.0%}, retrain every "
             f"{result['retrain_days'] or 'never'} days, the first model trained on the rows "
             f"before {result['start']}",
             f"{'policy':<26} {'inspected':>9} {'seizures':>8} {'carriers caught':>15} "
             f"{'recall':>7} {'model recall, last weeks':>25}"]
    for name, f in zip(names, figures):
        t = f["total"]
        model = f.get("model_recall_last_weeks")
        lines.append(f"{name[:26]:<26} {t['inspected']:>9,} {t['seizures']:>8,} "
                     f"{t['carriers_caught']:>15,} {t['recall']:>7.1%} "
                     + (f"{model['recall']:>25.1%}" if model else f"{'-':>25}"))
    for name, f in result["policies"].items():
        if f["retrains_refused"]:
            lines.append(f"warning: {name}: {f['retrains_refused']} retrain(s) refused by the "
                         "data; the previous model kept scoring")
    lines.append("by week (seizures found): " + "; ".join(
        f"{name}: " + " ".join(str(w["seizures"]) for w in f["weeks"])
        for name, f in zip(names, figures)))
    return lines


def plot_simulation(result, path):
    """Cumulative true carriers caught per week, one line per policy (report style), PNG."""
    from training.report_plots import COLOURS, _figure
    fig = _figure()
    ax = fig.add_subplot()
    series = dict(result["policies"], **{"legacy policy": result["legacy"]})
    for name, f in series.items():
        weeks = [w["week"] for w in f["weeks"]]
        caught = np.cumsum([w["carriers_caught"] for w in f["weeks"]])
        ax.plot(weeks, caught, marker="o", markersize=3, label=name, color=COLOURS.get(name))
    ax.set_xlabel("week of the simulation")
    ax.set_ylabel("true carriers caught (cumulative)")
    ax.set_title("What each policy catches over time")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.canvas.print_png(str(path), metadata={"Software": None})
