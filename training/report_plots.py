"""How the model report looks: its figures as inline PNGs, and the page around them.

Each figure is a PNG returned as a ``data:`` URI (no files). Figures are built
on :class:`matplotlib.figure.Figure` with the Agg canvas, so drawing needs no
display and touches no global pyplot state (safe in a web worker); matplotlib is
imported inside the functions, never at import time. The page helpers give the
one style sheet, tables and number formats, so the page needs nothing beyond itself.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

#: one colour per policy, the same on every figure
COLOURS = {"this model": "#1f5fa8", "model in service": "#d95f02",
           "policy in force": "#555555", "legacy policy": "#555555", "random": "#000000"}
SOURCE_COLOURS = {"model": "#1f5fa8", "lookout": "#7b3294", "random": "#000000",
                  "explore": "#1b9e77", "officer": "#d95f02"}


def _figure(width=7.0, height=3.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _uri(fig):
    buffer = io.BytesIO()
    # no Software tag: the same data gives the same bytes
    fig.canvas.print_png(buffer, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _percent_axis(axis, decimals=1):
    from matplotlib.ticker import PercentFormatter
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def budget_curve(budgets, curves, metric, title):
    """Recall or hit rate against budget: one line per policy, a 95% band where given.

    ``curves`` maps a policy name to a dict with ``metric`` (shape (len(budgets),))
    and optionally ``metric + "_lo"`` / ``metric + "_hi"``.
    """
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in curves.items():
        colour = COLOURS.get(name, None)
        style = "--" if name == "random" else "-"
        ax.plot(budgets, curve[metric], style, color=colour, label=name,
                marker="" if name == "random" else "o", markersize=3)
        if f"{metric}_lo" in curve:
            # a weighted estimate can pass 100%; a rate cannot
            ax.fill_between(budgets, np.clip(curve[f"{metric}_lo"], 0, 1),
                            np.clip(curve[f"{metric}_hi"], 0, 1),
                            color=colour, alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks([b for b in (0.0025, 0.005, 0.01, 0.02, 0.05, 0.1)
                   if budgets[0] <= b <= budgets[-1]])
    ax.xaxis.set_minor_formatter("")
    _percent_axis(ax.xaxis, 2)
    _percent_axis(ax.yaxis, 0 if metric == "recall" else 1)
    ax.set_xlabel("inspection budget (share of outbound crossings, log scale)")
    ax.set_ylabel(metric.replace("_", " ") + " (estimated)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left" if metric == "recall" else "upper right")
    return _uri(fig)


def reliability(bins):
    """Observed against predicted seizure rate per calibration bin (weighted), log axes."""
    return _uri(reliability_figure(bins))


def reliability_figure(bins):
    """The reliability diagram as a Figure, on log axes.

    Seizure probabilities span orders of magnitude and most bins of equal weight lie
    below 1%: on linear axes they pile up in one corner. A bin that observed no
    seizure cannot sit on a log axis; it is drawn at the axis floor, as an open marker.
    """
    fig = _figure(5.0, 4.2)
    ax = fig.add_subplot()
    predicted = np.array([b["mean_predicted"] for b in bins], dtype=float)
    observed = np.array([b["observed"] for b in bins], dtype=float)
    both = np.concatenate([predicted, observed])
    positive = both[np.isfinite(both) & (both > 0)]
    low = 10 ** np.floor(np.log10(positive.min())) if len(positive) else 1e-4
    high = 10 ** np.ceil(np.log10(positive.max())) if len(positive) else 1e-1
    low, high = min(low, high / 10), min(max(high, low * 10), 1.0)
    ax.plot([low, high], [low, high], ":", color="#888888", label="perfect calibration")
    if len(bins):
        sizes = np.array([b["rows"] for b in bins], dtype=float)
        zero = ~(observed > 0)
        shown = np.where(zero, low, observed)
        area = 20 + 180 * sizes / sizes.max()
        ax.plot(predicted, shown, "-", color=COLOURS["this model"], linewidth=1)
        ax.scatter(predicted[~zero], shown[~zero], s=area[~zero], color=COLOURS["this model"],
                   label="bins (size: inspected rows)", zorder=3)
        if zero.any():
            ax.scatter(predicted[zero], shown[zero], s=area[zero], facecolors="white",
                       edgecolors=COLOURS["this model"], label="no seizure observed",
                       zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    _percent_axis(ax.xaxis, 2)
    _percent_axis(ax.yaxis, 2)
    ax.set_xlabel("mean predicted probability (log scale)")
    ax.set_ylabel("observed seizure rate, weighted (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def importance(names, values):
    """Horizontal bars of mean |contribution| per feature, largest on top."""
    order = np.argsort(values)
    fig = _figure(7.0, 0.8 + 0.22 * len(names))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(names)), np.asarray(values)[order], color=COLOURS["this model"])
    ax.set_yticks(np.arange(len(names)), [names[i] for i in order], fontsize=8)
    ax.set_xlabel("mean |contribution| to the raw score (log-odds)")
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)


def score_histograms(reference, recent):
    """Densities of log10(score) for the training window and the evaluated window."""
    fig = _figure()
    ax = fig.add_subplot()
    both = np.concatenate([reference, recent])
    edges = np.linspace(np.log10(both.min()), np.log10(both.max()) + 1e-9, 41)
    for values, name, colour in ((reference, "training window", "#888888"),
                                 (recent, "evaluated window", COLOURS["this model"])):
        if len(values):
            ax.hist(np.log10(values), bins=edges, density=True, histtype="step",
                    linewidth=1.6, color=colour, label=f"{name} ({len(values):,} crossings)")
    ticks = np.arange(np.floor(edges[0]), np.ceil(edges[-1]) + 1)
    ax.set_xticks(ticks, [f"{100 * 10.0 ** t:g}%" for t in ticks], fontsize=8)
    ax.set_xlabel("risk score (log scale)")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _uri(fig)


def psi_bars(names, values, threshold):
    """PSI per feature, bars above ``threshold`` in red, the threshold as a line."""
    order = np.argsort(values)
    values = np.asarray(values, dtype=float)[order]
    fig = _figure(7.0, 0.8 + 0.22 * len(names))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(names)), values,
            color=np.where(values > threshold, "#c0392b", "#7f8c8d"))
    ax.axvline(threshold, color="#c0392b", linestyle=":", linewidth=1)
    ax.set_yticks(np.arange(len(names)), [names[i] for i in order], fontsize=8)
    ax.set_xlabel(f"population stability index (red: above {threshold})")
    ax.grid(axis="x", alpha=0.3)
    return _uri(fig)


def hit_rate_forest(rows, overall, title):
    """Hit rate with its 95% interval per (group, source) cell that is large enough.

    ``rows`` are outcome-test cells (dicts with ``group``, ``source``, ``hit_rate``,
    ``hit_rate_lo``, ``hit_rate_hi``); ``overall`` maps a source to its hit rate over
    all groups, drawn as a vertical line.
    """
    fig = _figure(7.0, max(2.2, 1.0 + 0.25 * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        colour = SOURCE_COLOURS.get(row["source"], "#333333")
        ax.plot([row["hit_rate_lo"], row["hit_rate_hi"]], [yi, yi], color=colour, linewidth=1.5)
        ax.plot(row["hit_rate"], yi, "o", color=colour, markersize=4)
    for source, rate in overall.items():
        if np.isfinite(rate):
            ax.axvline(rate, color=SOURCE_COLOURS.get(source, "#333333"), linestyle=":",
                       linewidth=1, label=f"{source}, all groups")
    ax.set_yticks(y, [f"{r['group']} · {r['source']}" for r in rows], fontsize=8)
    _percent_axis(ax.xaxis)
    ax.set_xlim(left=0)
    ax.set_xlabel("hit rate (seizures / inspected), 95% bootstrap interval")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if overall:
        ax.legend(fontsize=7, loc="lower right")
    return _uri(fig)


def referral_comparison(rows, policies, what):
    """Per group: referral rate (left) and hit rate with its 95% interval (right), one
    colour per policy.

    ``rows`` are referral-table cells (dicts with ``group``, ``policy``,
    ``referral_rate``, ``hit_rate``, ``hit_rate_lo``, ``hit_rate_hi``) that are not
    suppressed; ``policies`` gives the order of the policies in each group.
    """
    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig = _figure(8.0, max(2.4, 1.0 + 0.32 * len(groups) * len(policies) ** 0.5))
    rate_ax, hit_ax = fig.subplots(1, 2, sharey=True)
    step = 0.8 / max(len(policies), 1)
    for i, name in enumerate(policies):
        colour = COLOURS.get(name, "#333333")
        mine = {r["group"]: r for r in rows if r["policy"] == name}
        y = np.array([len(groups) - 1 - groups.index(g) for g in mine]) + 0.4 - (i + .5) * step
        cells = list(mine.values())
        rate_ax.barh(y, [c["referral_rate"] for c in cells], height=step, color=colour,
                     label=name)
        for yi, c in zip(y, cells):
            hit_ax.plot([c["hit_rate_lo"], c["hit_rate_hi"]], [yi, yi], color=colour,
                        linewidth=1.5)
            hit_ax.plot(c["hit_rate"], yi, "o", color=colour, markersize=4,
                        markerfacecolor="white" if c.get("few_seizures") else colour)
    rate_ax.set_yticks(np.arange(len(groups))[::-1], groups, fontsize=8)
    for ax, label in ((rate_ax, "referral rate (share of the group's outbound)"),
                      (hit_ax, "hit rate, 95% interval (open: few seizures)")):
        _percent_axis(ax.xaxis)
        ax.set_xlim(left=0)
        ax.set_xlabel(label, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    rate_ax.set_title(f"Referrals by {what} at each port's capacity", fontsize=10)
    rate_ax.legend(fontsize=7, loc="lower right")
    return _uri(fig)


# --- the page ----------------------------------------------------------------

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:12px}td,th{border:1px solid #ddd;
padding:2px 6px;text-align:left}th{background:#f3f3f3}img{display:block;max-width:100%;
margin:.6em 0}.warn{color:#b03a2e}.muted{color:#888}ul.cols{columns:2;font-size:12px}
nav a{margin-right:1em}code{font-size:12px}"""


def page(title, subtitle, sections):
    """The whole HTML document; ``sections`` are (anchor, heading, HTML body) triples."""
    nav = "".join(f'<a href="#{key}">{escape(heading)}</a>' for key, heading, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(heading)}</h2>{content}</section>'
                   for key, heading, content in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f'{escape(title)}</title><style>{_CSS}</style></head><body><h1>{escape(title)}'
            f'</h1><p class=muted>{escape(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n')


def table(header, rows):
    """A table of cells that are already HTML (escape text before)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img(uri, alt):
    return f'<img src="{uri}" alt="{escape(alt)}">'


def escape(text):
    return html.escape(str(text), quote=True)


def pct(x, decimals=1):
    """A share as a percentage; a dash when it cannot be estimated."""
    return "&ndash;" if x is None or not np.isfinite(x) else f"{x:.{decimals}%}"


def num(x, decimals=2):
    return "&ndash;" if x is None or not np.isfinite(x) else f"{x:.{decimals}f}"


def lohi(cell, name):
    return cell[f"{name}_lo"], cell[f"{name}_hi"]


def ci(value, interval, decimals=1, fmt=None):
    """``value [lo, hi]`` as percentages, or with ``fmt`` (a format string) for amounts."""
    show = (lambda x: "&ndash;" if not np.isfinite(x) else fmt.format(x)) if fmt else (
        lambda x: pct(x, decimals))
    if interval is None:
        return show(value)
    return f"{show(value)} [{show(interval[0])}, {show(interval[1])}]"
