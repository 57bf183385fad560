"""The LED: PWM through a gamma curve, soft fades, and the knock pulse.

Levels are 0..255 in perceived brightness; the gamma table turns them into PWM duty once at
start so the loop does integer work only.
"""

from array import array
from time import ticks_add, ticks_diff

# Knock pattern, ms: two slow breaths and a rest; the resident learns this rhythm.
KNOCK_PERIOD = 3000
_BREATH = 600


class Lamp:
    def __init__(self, pwm, gamma=2.2, fade_ms=250, on_level=255):
        self.pwm = pwm
        self.fade_ms = fade_ms
        self.on_level = on_level
        self.table = array("H", (int(65535 * (i / 255) ** gamma + 0.5) for i in range(256)))
        self.on = False
        self.level = 0  # what the LED shows now
        self._from = 0
        self._to = 0
        self._t0 = 0
        self._knock_t0 = None
        self._duty = -1
        self._write(0)

    def set(self, on, now):
        """Follow the switch: start a fade to on_level or to dark."""
        self.on = bool(on)
        self._from = self.level
        self._to = self.on_level if on else 0
        # Start a tenth into the fade, so the light answers the switch in this very pass.
        self._t0 = ticks_add(now, -(self.fade_ms // 10))
        self.tick(now)

    def knock(self, now):
        self._knock_t0 = now

    def stop_knock(self, now):
        if self._knock_t0 is not None:
            self._knock_t0 = None
            self._from = self.level
            self._t0 = now

    @property
    def knocking(self):
        return self._knock_t0 is not None

    def _base(self, now):
        if self.fade_ms <= 0:
            return self._to
        dt = ticks_diff(now, self._t0)
        if dt >= self.fade_ms:
            return self._to
        if dt <= 0:
            return self._from
        return self._from + (self._to - self._from) * dt // self.fade_ms

    def _pulse(self, base, now):
        """Breathe between the base level and a gentle contrast: up when dark, down when lit."""
        phase = ticks_diff(now, self._knock_t0) % KNOCK_PERIOD
        if phase >= 4 * _BREATH:
            return base
        step = phase % (2 * _BREATH)
        amount = step if step < _BREATH else 2 * _BREATH - step  # 0.._BREATH triangle
        if base > self.on_level // 2:
            return base - (base * 7 // 10) * amount // _BREATH
        return base + (self.on_level // 2) * amount // _BREATH

    def tick(self, now):
        level = self._base(now)
        if self._knock_t0 is not None:
            level = self._pulse(level, now)
        self.level = level
        self._write(level)

    def _write(self, level):
        duty = self.table[level]
        if duty != self._duty:
            self._duty = duty
            self.pwm.duty_u16(duty)
