"""The model report's model card: what the model is, what it was trained on, its limits.

From the manifest beside the artifact (version, code version, training windows and
splits, sources, validation figures, how the trees were grown, the backtest kept at
training) and the evaluated window's counts; :func:`training.report.build_report`
puts it first on the page.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoring.features import HELP
from scoring.wording import plural
from training.candidates import points
from training.fit import how_grown
from training.monitoring import FEW_SEIZURES
from training.report_plots import ci, escape, pct, table


def model_card(manifest, w):
    """The model card: facts from the manifest, intended use, features, known limits."""
    data = manifest.get("data", {})
    windows = data.get("windows", {})
    split = data.get("split", {})
    off = manifest.get("excluded_features") or []
    used = manifest.get("features") or []
    sources = data.get("sources") or []
    at1 = next((b for b in manifest.get("metrics", {}).get("validation", {}).get("budgets", [])
                if b.get("budget") == 0.01), None)
    facts = [["version", manifest.get("version", "")],
             ["created", manifest.get("created_at", "")],
             ["code version", manifest.get("code_version", "")],
             ["trees", manifest.get("trees", "")],
             ["calibration", manifest.get("calibration", {}).get("method", "")],
             ["training data", f"{data.get('rows', 0):,} crossings, {data.get('outbound', 0):,} "
                               "outbound"]]
    facts += [[f"window: {k.replace('_', ' ')}", _iso(pd.Timestamp(windows[k]).value // 1000)]
              for k in ("start", "calibrate_from", "validate_from", "end") if k in windows]
    facts += [[f"{k} split", f"{split[k]['outbound']:,} outbound, {split[k]['labelled']:,} "
                             f"inspected, {plural(split[k]['seizures'], 'seizure')}"]
              for k in ("fit", "calibrate", "validate") if k in split]
    facts += [["source", f"{s.get('path')} ({s.get('rows', 0):,} rows, sha256 "
                         f"{str(s.get('sha256'))[:12]})"] for s in sources]
    if at1:
        recall = pct(at1.get("recall", np.nan))
        on = split.get("validate", {}).get("seizures")
        if on is not None:
            recall += f" (on {plural(on, 'seizure')}{', unstable' if on < FEW_SEIZURES else ''})"
        facts.append(["validation recall at 1%", recall])
    facts += [[label, text] for label, text in how_grown(manifest)]
    if getattr(w, "overlap", None):
        facts.append(["warning", w.overlap])
    facts += [["training warning", warning] for warning in manifest.get("warnings", [])]
    facts.append(["evaluated here", f"{_iso(w.start)} to {_iso(w.end)}: {w.labels.n:,} "
                                    f"outbound, {int(w.labels.resolved.sum()):,} inspected, "
                                    f"{plural(int(w.labels.y.sum()), 'seizure')}"])
    features = "".join(f"<li><code>{escape(f)}</code> {escape(HELP.get(f, ''))}</li>"
                       for f in used)
    return (table(["", ""], [[escape(k), escape(str(v))] for k, v in facts])
            + backtest_table(manifest.get("backtest"))
            + "<h3>Intended use</h3><p>Ranking outbound crossings for secondary inspection "
              "at a port's given capacity, by the calibrated probability that they carry "
              "firearms, ammunition or unreported currency. Decision support: the officer "
              "sees the score and its reasons and decides; the model never inspects, "
              "clears or accuses anyone.</p>"
            + f"<h3>Features used ({len(used)})</h3><ul class=cols>{features}</ul>"
            + "<h3>Features switched off</h3><p>"
            + (", ".join(f"<code>{escape(f)}</code>" for f in off) if off else "none")
            + " (<code>southbound train --exclude-feature NAME</code>)</p>"
            + "<h3>Known limits</h3><ul>" + "".join(f"<li>{x}</li>" for x in limits(manifest))
            + "</ul>")


def backtest_table(backtest):
    """The backtest kept at training (``train --backtest K``), one row per origin and budget."""
    if not backtest:
        return ""
    rows = [[escape(o["origin"]), f"{o['train']['rows']:,}", f"{o['train']['seizures']:,}",
             pct(b["budget"]), ci(b["recall"], b["recall_ci"]), pct(b["hit_rate"]),
             f"{b['seizures_behind']}{' (unstable)' if b['unstable'] else ''}"]
            for o in backtest.get("origins", []) if "budgets" in o for b in o["budgets"]]
    n = len(backtest.get("origins", []))
    return (f"<h3>Backtest of this pipeline ({plural(n, 'origin')}, "
            f"{backtest['config']['horizon_days']} days each)</h3>"
            + table(["origin", "inspections before", "seizures before", "budget",
                     "estimated recall", "hit rate", "seizures behind"], rows)
            + plain_table(backtest.get("plain")))


def plain_table(plain):
    """The pipeline against its plain candidate at the backtest's origins: per origin and
    budget, then pooled with the verdict (:mod:`training.candidates`); nothing for a
    backtest kept without it."""
    if not plain:
        return ""
    rows = [_plain_row(o["origin"], b, f"{b['seizures_where_lists_differ']:,} labelled "
                                       "seizures where the lists differ")
            for o in plain.get("origins", []) for b in o["budgets"]]
    rows += [_plain_row(f"pooled ({plural(s['origins'], 'origin')})", s, s["verdict"])
             for s in plain.get("summary", [])]
    return (f"<h3>Against its plain candidate on this log</h3><p>The plain candidate is "
            f"{escape(plain.get('candidate', ''))}, trained on the same rows at each origin. "
            "Differences are in points of estimated recall (Horvitz&ndash;Thompson from the "
            "horizon's inspections), with paired 95% intervals; the verdict is "
            "<em>better</em> or <em>worse</em> only where the pooled interval leaves out "
            "zero, else <em>cannot tell</em>. Training does not choose by it.</p>"
            + table(["origin", "budget", "pipeline", "plain candidate",
                     "difference, points", ""], rows))


def _plain_row(origin, b, last):
    lo, hi = b["difference_ci"]
    return [escape(origin), pct(b["budget"]), pct(b["pipeline"].get("recall", np.nan)),
            pct(b["plain"].get("recall", np.nan)),
            f"{points(b['difference'])} [{points(lo)}, {points(hi)}]", escape(last)]


def limits(manifest):
    """The known limits of the model, as HTML list items."""
    used = set(manifest.get("features") or [])
    plate = used & {"plate_country", "plate_jurisdiction"}
    out = ["Labels exist only where someone inspected: seizures are learned and measured "
           "through the selection probability of each inspection, and a crossing nobody "
           "inspected is never known to be clean.",
           ("Plate jurisdiction can stand in for national origin: " + (
               "<code>" + "</code>, <code>".join(sorted(plate)) + "</code> are used; read "
               "who this model would refer by plate country before serving, or switch them "
               "off (either name switches off both)."
               if plate else "it is switched off in this model."))]
    sources = manifest.get("data", {}).get("sources") or []
    generated = [s["path"] for s in sources
                 if Path(s["path"]).with_name(Path(s["path"]).stem + ".truth.csv").exists()]
    if generated or not sources:
        out.append("Synthetic data: " + (
            f"trained on a generated world ({escape(', '.join(generated))}), "
            if generated else "the training logs are not recorded; if they were generated, ")
            + "the figures describe the generator's rings and legacy policy, not a real port.")
    out.append("Feature importance and reasons show what the model leans on, not what causes "
               "smuggling.")
    out.append("Drift: smuggling tactics change and traffic moves between ports; a model is "
               "only as good as the window it was trained on. Watch the PSI table and retrain "
               "when scores or key features shift.")
    return out


def switched_off_text(manifest):
    """The features switched off, comma-separated, or ``none``."""
    off = manifest.get("excluded_features") or []
    return ", ".join(off) if off else "none"


def _iso(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
