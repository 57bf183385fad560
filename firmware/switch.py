"""The wall switch: an edge interrupt marks the time, a fast poll confirms the level.

A change counts once the input has been steady for debounce_ms since its last edge, so
contact bounce never becomes an event. The IRQ handler stores one small int: it is safe as
a hard or soft IRQ and never allocates.
"""

from time import ticks_diff, ticks_ms

from machine import Pin


class Switch:
    def __init__(self, pin, debounce_ms=20, active_low=True):
        self.pin = pin
        self.debounce_ms = debounce_ms
        self.active_low = active_low
        self.state = self._read()
        self._cand = self.state
        self._since = ticks_ms()
        self._edge = None  # ticks of the latest edge the IRQ saw
        pin.irq(handler=self._irq, trigger=Pin.IRQ_RISING | Pin.IRQ_FALLING)

    def _irq(self, _pin):
        self._edge = ticks_ms()

    def _read(self):
        v = self.pin.value()
        return (not v) if self.active_low else bool(v)

    def poll(self, now):
        """The new settled state (True = on) when it changed, else None."""
        raw = self._read()
        edge = self._edge
        self._edge = None
        if raw != self._cand:
            self._cand = raw
            self._since = now if edge is None else edge
        elif edge is not None and ticks_diff(edge, self._since) > 0:
            self._since = edge  # still bouncing: wait for quiet again
        if raw == self.state or ticks_diff(now, self._since) < self.debounce_ms:
            return None
        self.state = raw
        return raw
