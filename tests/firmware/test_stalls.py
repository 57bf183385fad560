"""Brokers that misbehave in the nastiest ways, played by a loopback server (rig.StallServer):
the bulb must keep its lamp on the switch, feed its watchdog, keep every event on flash, and
give up on the session within net.timeout_ms to retry with backoff."""

from __future__ import annotations

import time

import pytest

from tests.firmware import rig
from tests.firmware.rig import DEVICE, FULL, wait_until
from tests.firmware.test_bulb import events, first_copies, keys, online

# The longest the loop may go without serving the switch. A call that blocked would show the
# whole net.timeout_ms (1000 ms in these tests); the loop itself passes every ~5 ms.
MAX_GAP_MS = 400


def stalled_bulb(make_device, server, **over):
    dev = make_device()
    cfg = rig.config(server.port, **over)
    cfg["broker"] = {**cfg["broker"], **over.get("broker", {}), "port": server.port}
    dev.write_config(cfg)
    dev.start()
    return dev, cfg


def use_the_switch(dev, flips):
    for i in range(flips):
        on = i % 2 == 0
        dev.flip(on)
        dev.wait_duty(FULL if on else 0, 2)
        time.sleep(0.15)


@pytest.mark.parametrize("mode,tls", [("mute", False), ("mute", True), ("no_puback", False)],
                         ids=["no-connack", "no-tls-handshake", "stops-reading-mid-publish"])
def test_a_stalled_broker_never_holds_the_lamp(make_device, broker, recorder, mode, tls):
    server = rig.StallServer(mode)
    try:
        dev, cfg = stalled_bulb(make_device, server, broker={"tls": tls})
        wait_until(lambda: server.accepted >= 1, 10, "the bulb to open a connection")
        use_the_switch(dev, 10)
        wait_until(lambda: dev.log().count("link: down") >= 2, 15, "two timed-out sessions")
        dev.alive()
        assert "110" in dev.log() or "ETIMEDOUT" in dev.log(), dev.log()
        if mode == "no_puback":
            assert 0x30 in server.packets and server.packets[0] == 0x10
        assert 0 < dev.wdt_worst < MAX_GAP_MS, (
            f"the loop stalled {dev.wdt_worst} ms:\n{dev.log()}")
        lines = rig.journal_lines(dev.flash / "queue.log")
        assert not [x for x in lines if x.startswith("A ")], "an event was acked by nobody"
        assert len([x for x in lines if x.startswith("E ")]) == 11
    finally:
        server.close()
    # The real broker at last: everything queued arrives, in order, once each.
    dev.stop()
    cfg["broker"] = {**cfg["broker"], "port": broker.port, "tls": False}
    dev.write_config(cfg)
    dev.start()
    recorder.wait(lambda r: len(first_copies(events(r))) >= 12, 20, "the queued events")
    evts = first_copies(events(recorder))
    b = evts[0].b
    assert keys(evts) == [(b, s) for s in range(11)] + [(b + 1, 0)]
    assert online(recorder)[-1].d == DEVICE
