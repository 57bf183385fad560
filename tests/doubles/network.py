"""Double of MicroPython's `network`: a station WLAN the test cuts and restores through the
machine double's channel (`wifi 0` / `wifi 1`)."""

import machine

STA_IF, STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 0, 1000, 1001, 1010


class WLAN:
    def __init__(self, interface=STA_IF):
        self._on = False
        self._ssid = None

    def active(self, flag=None):
        if flag is None:
            return self._on
        self._on = bool(flag)

    def connect(self, ssid=None, key=None):
        if not self._on:
            raise OSError("wifi not active")
        self._ssid = ssid

    def isconnected(self):
        machine.pump()
        return bool(self._on and self._ssid is not None and machine.state["wifi"])

    def status(self, param=None):
        if param == "rssi":
            return machine.state["rssi"]
        return STAT_GOT_IP if self.isconnected() else STAT_CONNECTING
