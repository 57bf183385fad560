"""End to end, with real parts only: Mosquitto with the fleet's passwords and ACLs (`anbu
broker config`), two bulbs running the real firmware in the MicroPython VM, and the host with
its notifier, a local webhook receiver and a local SMTP server.

The engine runs on a config that turns hours into seconds (a knock after 10 s of silence, 9 s
to answer it; the bulb pulses for its shortest knock, 10 s) instead of a fake clock: firmware,
broker and host all keep real time.
Kim (h1) answers the knock by flipping the switch; Park (h2) never does, and the caseworkers'
webhook and mailbox get the alarm.
"""

from __future__ import annotations

import time

from host import decisions as d
from host import events as ev
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.firmware.rig import FULL, wait_until
from tests.notify.receivers import SECRET, SmtpReceiver, WebhookReceiver
from tests.serve.fleet import Host, config, secure, secure_broker

PASSWORDS = {"bulb-0001": "kim-bulb-password-0001", "bulb-0002": "park-bulb-password-0002"}
ENGINE = {"min_gap_h": 10 / 3600, "max_gap_h": 10 / 3600, "ceiling_h": 120 / 3600,
          "knock_timeout_min": 0.15, "quiet_start_h": 0, "quiet_end_h": 0, "renotify_min": 60.0}


def bulb(make_device, port: int, device: str):
    vm = make_device(device)
    vm.write_config(rig.config(port, device=device, hb=10,
                               broker={"user": device, "password": PASSWORDS[device]}))
    vm.start()
    return vm


def pulses(vm, since: float) -> int:
    duties = [duty for _, duty in vm.duty_history(since)]
    return sum(1 for a, b, c in zip(duties, duties[1:], duties[2:], strict=False) if a < b >= c)


def test_a_knock_is_answered_at_the_bulb_and_an_unanswered_one_reaches_people(
        tmp_path, make_device, monkeypatch):
    with SqliteStore(tmp_path / "anbu.db") as store:
        for household, name, device in (("h1", "김말순", "bulb-0001"),
                                        ("h2", "박영호", "bulb-0002")):
            store.add_household(household, name, created_at=0.0)
            store.add_device(device, household, ev.SWITCHED, created_at=0.0)
    broker = secure_broker(tmp_path / "broker", PASSWORDS)
    webhook, smtp = WebhookReceiver(), SmtpReceiver()
    monkeypatch.setenv("ANBU_TEST_MQTT_PASSWORD", "host-password-for-tests")
    monkeypatch.setenv("ANBU_TEST_WEBHOOK_SECRET", SECRET)
    notify = {"webhook": {"url": webhook.url, "secret_env": "ANBU_TEST_WEBHOOK_SECRET"},
              "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                        "from": "anbu@example.org", "to": ["caseworkers@example.org"]}}
    cfg = config(tmp_path, broker.port, **secure({"engine": ENGINE, "notify": notify}))
    broker.start()
    try:
        with Host(cfg) as service:
            kim = bulb(make_device, broker.port, "bulb-0001")
            park = bulb(make_device, broker.port, "bulb-0002")
            kim.wait_duty(0)
            wait_until(lambda: service.metrics.registry.get_sample_value(
                "anbu_events_total", {"kind": "online"}) == 2, 20, "both bulbs online")
            online_at = time.monotonic()

            # Kim: the knock reaches the bulb, the lamp breathes, a flip of the switch answers.
            wait_until(lambda: pulses(kim, online_at) >= 2, 40, "Kim's lamp to pulse")
            kim.flip(True)
            kim.wait_duty(FULL)
            with SqliteStore(tmp_path / "anbu.db") as s:
                wait_until(lambda: any(c.outcome == ev.RESIDENT_ANSWERED for c in s.cases("h1")),
                           15, "Kim's case to be resolved as answered")
                knocked = [c for c in s.commands("bulb-0001") if c.command == "knock"]
                assert knocked[0].ok is True  # the bulb acked the knock
                answers = [e for e in s.events("h1") if e.kind == ev.ON]
                assert answers[-1].detail == knocked[0].id  # the firmware said what it answered

            # Park: the lamp pulses too, nobody answers, the alarm reaches the people.
            assert pulses(park, online_at) >= 2
            wait_until(lambda: webhook.posts and smtp.messages, 30, "the webhook and the e-mail")
            post = webhook.posts[0]
            assert post.signature_ok and post.payload["kind"] == "alarm"
            assert post.payload["household_id"] == "h2" and post.payload["case_id"] == "h2#1"
            mail = smtp.messages[0]
            assert "박영호" in mail["Subject"]
            with SqliteStore(tmp_path / "anbu.db") as s:
                (case,) = s.cases("h2")
                assert case.state == d.CASE_ALARM
                assert not [c for c in s.cases("h1") if c.state == d.CASE_ALARM]
    finally:
        webhook.close()
        smtp.close()
        broker.stop()
