"""config.py in the real MicroPython VM: every bad setting is named, and replaced by a safe one."""

from __future__ import annotations

from tests.firmware.test_journal import run


def test_config_names_each_problem_and_falls_back(tmp_path):
    out = run(tmp_path, """
import config
cfg, errors = config.validate({"device": "Bulb_1", "wifi": {"ssid": "x"},
                               "broker": {"host": "h", "user": "u", "port": 70000},
                               "ntp": {"port": 0}, "power_mode": "solar"},
                              b"\\x01\\x02\\xab\\xcd")
out["errors"] = errors
out["cfg"] = [cfg["device"], cfg["broker.password"], cfg["broker.port"], cfg["ntp.port"],
              cfg["power_mode"], cfg["online"]]
""")
    assert out["cfg"] == ["bulb-0102abcd", "", 1883, 123, "switched", True]
    joined = "\n".join(out["errors"])
    for name in ("device", "broker.password", "broker.port", "ntp.port", "power_mode"):
        assert f"config: {name}:" in joined or f"config: {name} " in joined, joined
