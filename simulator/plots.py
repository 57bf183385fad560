"""PNG plots of a simulation report: delay distributions, the trade-off curve, personas.

matplotlib's object API with the Agg canvas (no pyplot, no global state, no display needed).
Each function reads the report dict only and writes one file, so the plots always show the
figures in report.json.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulator.report import MAIN_RULES

COLOURS = {"anbu": "#1b7837", "fixed-24h": "#b2182b", "daily-window": "#2166ac",
           "fixed-36h": "#e08214"}
MARKERS = {"anbu": "*", "fixed-24h": "s", "daily-window": "D", "fixed-36h": "^"}
_SAVE = {"dpi": 110, "metadata": {"Software": None}}  # no version stamp: same report, same bytes


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), layout="tight")
    FigureCanvasAgg(fig)
    return fig


def _rules(report: dict) -> list[str]:
    return [r for r in MAIN_RULES if r in report["rules"]]


def delays(report: dict, path: Path) -> Path:
    """Share of emergencies reached within x hours, per rule: to the alarm, and to the door.

    A curve that stops below 100% is the share missed (never alarmed, or found by a visit).
    """
    fig = _figure(10, 4.5)
    panels = fig.subplots(1, 2, sharey=True)
    emergencies = report["emergencies"]
    n = len(emergencies)
    longest = max((o[k] for e in emergencies for o in e["rules"].values()
                   for k in ("alarm_h", "found_h") if o[k] is not None), default=0.0)
    xmax = max(24.0, 12.0 * math.ceil(longest / 12))
    for ax, key, title in ((panels[0], "alarm_h", "onset -> first alarm"),
                           (panels[1], "found_h", "onset -> responder at the door")):
        for rule in _rules(report):
            hours = sorted(
                e["rules"][rule][key] for e in emergencies if rule in e["rules"]
                and e["rules"][rule][key] is not None
                and (key == "alarm_h" or e["rules"][rule]["found_by"] == "dispatch")
            )
            if n and hours:
                xs = [0.0, *[h for h in hours for _ in (0, 1)]]
                ys = [0.0, *[k / n * 100 for i in range(len(hours)) for k in (i, i + 1)]]
                xs.append(xmax)
                ys.append(ys[-1])
                ax.plot(xs, ys, color=COLOURS.get(rule), label=f"{rule} ({len(hours)}/{n})")
            else:
                ax.plot([], [], color=COLOURS.get(rule), label=f"{rule} (0/{n})")
        ax.set_title(title)
        ax.set_xlabel("hours after the emergency began")
        ax.set_xlim(0, xmax)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    panels[0].set_ylabel("% of emergencies reached")
    panels[0].set_ylim(0, 100)
    fig.suptitle(f"Detection delay, {n} emergencies")
    fig.savefig(path, **_SAVE)
    return path


def tradeoff(report: dict, path: Path) -> Path:
    """False alarms against median detection delay: the engine's variants as a curve, the
    engine as configured and each baseline as single points, on the same households."""
    curve = report["tradeoff"]
    fig = _figure()
    ax = fig.subplots()
    variants = sorted(
        (p for p in curve["points"] if p["kind"] == "variant"
         and p["detection_delay_median_h"] is not None
         and p["false_alarms_per_household_month"] is not None),
        key=lambda p: p["false_alarms_per_household_month"],
    )
    if variants:
        ax.plot([p["false_alarms_per_household_month"] for p in variants],
                [p["detection_delay_median_h"] for p in variants],
                "o-", color="#5aae61", label="anbu, other sensitivities")
        for i, p in enumerate(variants):  # labels above and below in turn: neighbours overlap
            ax.annotate(p["rule"].split("@", 1)[1], (p["false_alarms_per_household_month"],
                                                     p["detection_delay_median_h"]),
                        fontsize="x-small", xytext=(4, 5 if i % 2 else -11),
                        textcoords="offset points")
    unshown = []
    for p in curve["points"]:
        if p["kind"] == "variant":
            continue
        x, y = p["false_alarms_per_household_month"], p["detection_delay_median_h"]
        if x is None or y is None:
            unshown.append(p["rule"])
            continue
        ax.plot([x], [y], MARKERS.get(p["rule"], "o"), color=COLOURS.get(p["rule"]),
                markersize=12 if p["rule"] == "anbu" else 8, label=p["rule"], linestyle="none")
    ax.set_xlabel("false alarms per household-month")
    ax.set_ylabel("median hours from emergency to alarm")
    title = f"Trade-off on {curve['households']} households"
    if not any(p["emergencies"] for p in curve["points"]):
        title += ": no emergencies among them, so no delays"
    elif unshown:
        title += f" (median missed, not shown: {', '.join(unshown)})"
    ax.set_title(title, fontsize="medium")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "nothing to plot", ha="center", transform=ax.transAxes)
    fig.savefig(path, **_SAVE)
    return path


def personas(report: dict, path: Path) -> Path:
    """Per persona: false alarms per household-month and median detection delay, per rule."""
    names = list(report["personas"])
    rules = _rules(report)
    fig = _figure(10, 4.5)
    panels = fig.subplots(1, 2)
    width = 0.8 / max(len(rules), 1)
    for k, rule in enumerate(rules):
        xs = [i + (k - (len(rules) - 1) / 2) * width for i in range(len(names))]
        figures = [report["personas"][p]["rules"][rule] for p in names]
        rates = [f["false_alarms_per_household_month"] or 0.0 for f in figures]
        medians = [f["detection_delay_h"]["median"] for f in figures]
        panels[0].bar(xs, rates, width, color=COLOURS.get(rule), label=rule)
        panels[1].bar(xs, [m or 0.0 for m in medians], width, color=COLOURS.get(rule),
                      label=rule)
        for x, f, m in zip(xs, figures, medians, strict=True):
            if m is None and f["emergencies"]:
                panels[1].annotate("missed", (x, 0), rotation=90, fontsize="x-small",
                                   ha="center", va="bottom")
    for i, p in enumerate(names):
        if not any(report["personas"][p]["rules"][r]["emergencies"] for r in rules):
            panels[1].annotate("no emergencies", (i, 0), rotation=90, fontsize="x-small",
                               ha="center", va="bottom", color="#555")
    for ax, label in ((panels[0], "false alarms per household-month"),
                      (panels[1], "median hours to alarm")):
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize="small")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-3) * 1.3)  # room for the legend above the bars
    panels[0].legend(fontsize="small", ncols=2, loc="upper left")
    fig.suptitle("Who each rule serves badly, per persona")
    fig.savefig(path, **_SAVE)
    return path


def write_all(report: dict, out: Path) -> dict[str, str]:
    """Every plot into `out`; returns name -> file name (relative to out)."""
    made = {}
    for name, plot in (("delays", delays), ("tradeoff", tradeoff), ("personas", personas)):
        made[name] = plot(report, out / f"{name}.png").name
    return made
