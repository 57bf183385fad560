"""The HTML report: report.json's figures in tables, with the PNG plots, for people to read.

Jinja2 renders `templates/report.html` (autoescaped: household and persona names come from a
scenario file someone may have edited). Only the report dict goes in, so the page and the JSON
cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from simulator.report import MAIN_RULES

MAX_EMERGENCY_ROWS = 300  # a page a person can scroll; report.json has every emergency


def _hours(value: float | None) -> str:
    """3.25 -> '3 h 15 m'; None (the percentile fell on a missed emergency) -> 'missed'."""
    if value is None:
        return "missed"
    minutes = round(value * 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} m" if h else f"{m} m"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("simulator", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["hours"] = _hours
    env.filters["rate"] = _rate
    return env


def render(report: dict, plots: dict[str, str]) -> str:
    rules = [r for r in MAIN_RULES if r in report["rules"]]
    return _environment().get_template("report.html").render(
        r=report, rules=rules, plots=plots, max_rows=MAX_EMERGENCY_ROWS, variants=[
            p for p in report["tradeoff"]["points"] if p["kind"] == "variant"],
    )


def write(report: dict, plots: dict[str, str], out: Path) -> Path:
    path = out / "index.html"
    path.write_text(render(report, plots), encoding="utf-8")
    return path
