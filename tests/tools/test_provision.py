"""A bulb's settings are checked before any device is touched, the firmware's checker included."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tools import provision
from tools.broker_config import check_password
from tools.provision import Settings, SettingsError

GOOD = Settings(device_id="bulb-0001", wifi_ssid="home-ap", wifi_password="wifi-secret",
                broker_host="192.0.2.10", extra={"hb": 60, "pins": {"lamp": 5}})


def test_the_config_has_the_bulb_s_own_login_and_the_firmware_accepts_it():
    password = provision.new_password()
    assert len(password) == 32 and password != provision.new_password()
    cfg = provision.device_config(GOOD, password)
    assert cfg["broker"] == {"host": "192.0.2.10", "tls": False, "user": "bulb-0001",
                             "password": password}
    assert cfg["wifi"] == {"ssid": "home-ap", "password": "wifi-secret"}
    assert (cfg["hb"], cfg["pins"], cfg["device"]) == (60, {"lamp": 5}, "bulb-0001")
    flat, errors = provision.firmware_config().validate(cfg, b"")
    assert errors == [] and flat["broker.port"] == 1883 and flat["online"]


@pytest.mark.parametrize("change,message", [
    ({"wifi_ssid": ""}, "Wi-Fi SSID: expected 1..32 bytes, got 0"),
    ({"wifi_ssid": "x" * 33}, "Wi-Fi SSID: expected 1..32 bytes, got 33"),
    ({"wifi_password": "short"}, "Wi-Fi password: WPA2 wants 8..63"),
    ({"wifi_password": "비밀번호비밀번호"}, "Wi-Fi password: WPA2 wants 8..63 printable ASCII"),
    ({"broker_host": "broker .example"}, "broker host: 'broker .example' is neither"),
    ({"broker_host": ""}, "broker host: empty"),
    ({"broker_port": 70000}, "broker port: expected 1..65535, got 70000"),
    ({"device_id": "Bulb_1"}, "device id 'Bulb_1'"),
    ({"power_mode": "solar"}, "power mode 'solar'"),
    ({"ca": Path("/nonexistent/ca.pem"), "tls": True}, "CA file /nonexistent/ca.pem: cannot read"),
    ({"ca": Path(__file__)}, "a CA file was given without TLS"),
    ({"extra": {"hb": 5}}, "hb: expected 10..3600, got 5"),  # the firmware's own checker
    ({"extra": {"hbb": 60}}, "settings file: hbb is not a setting the firmware knows"),
    ({"extra": {"broker": {"password": "x"}}}, "broker.password is set by its own option"),
])
def test_each_bad_setting_is_named(change, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        provision.check(replace(GOOD, **change))


def test_every_problem_is_listed_at_once():
    bad = replace(GOOD, wifi_ssid="", broker_host="", broker_port=-1)
    with pytest.raises(SettingsError) as caught:
        provision.check(bad)
    assert str(caught.value).count(";") == 2


def test_good_settings_pass_and_open_networks_and_hex_keys_are_fine():
    provision.check(GOOD)
    provision.check(replace(GOOD, wifi_password=""))
    provision.check(replace(GOOD, wifi_password="ab" * 32, broker_host="broker.example.org"))


def test_a_ca_that_is_not_a_certificate_is_refused(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("hello")
    with pytest.raises(SettingsError, match="neither a PEM nor a DER certificate"):
        provision.check(replace(GOOD, tls=True, ca=ca))


def test_settings_files_are_read_with_clear_errors(tmp_path):
    assert provision.load_extra(None) == {}
    path = tmp_path / "site.json"
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="site.json: not valid JSON"):
        provision.load_extra(path)
    path.write_text("[1]")
    with pytest.raises(SettingsError, match="expected a JSON object"):
        provision.load_extra(path)
    with pytest.raises(SettingsError, match="cannot read it"):
        provision.load_extra(tmp_path / "missing.json")


def test_registering_keeps_only_a_hash(db):
    from host.store.sqlite import SqliteStore

    with SqliteStore(db) as store:
        cred = provision.register(store, GOOD, "h1", "the-real-password", replace=False)
        assert check_password("the-real-password", store.device_credential("bulb-0001")[1])
    assert cred.password_hash.startswith("$7$")
    assert b"the-real-password" not in db.read_bytes()
