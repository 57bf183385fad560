"""Every scenario file shipped with the simulator loads, and says what it claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import scenario as scenarios

FOLDER = Path(scenarios.__file__).parent / "scenarios"


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path):
    s = scenarios.load(path)
    assert s.source == str(path) and s.households >= 1 and s.days >= 1


def test_the_example_scenarios_change_what_they_say():
    assert scenarios.load(FOLDER / "living-rooms.toml").bulbs == {"living_room": 1.0}
    quiet = scenarios.load(FOLDER / "no-faults.toml").network
    assert quiet.wifi_outages_per_year == quiet.power_cuts_per_year == quiet.mains == 0
    frail = scenarios.load(FOLDER / "frail.toml")
    assert {p.name for p in frail.personas} == {"homebound", "early-riser", "typical"}
    assert frail.life.emergencies_per_year > scenarios.load(None).life.emergencies_per_year
