"""What a household's bulbs coming, going and falling silent mean: the engine's device inputs.

Mixed into host.engine.Engine, whose steps (_resident, _open_case, _vouched) it calls: a mains
bulb's power is the wall switch, a switched bulb's silence is a device case, and a household
whose switched bulbs are all down is watched only by the ceiling.
"""

from __future__ import annotations

import math

from host import case as ladder
from host import decisions as d
from host import events as ev
from host.decisions import Reason
from host.household import NEVER, DeviceState, HouseholdState


class BulbInputs:
    """online / offline / heartbeat, missed heartbeats, and the host listening again."""

    def _device(self, st: HouseholdState, event: ev.Event, now: float, out: list) -> None:
        assert type(event.device) is str  # _refuse saw to it
        if event.kind == ev.HEARTBEAT:
            self._heartbeat(st, event.device, event.time, now, out)
            return
        self._device_input(st, event.device, event, now, out)
        st.devices_changed(self.config.missed_heartbeats)

    def _heartbeat(self, st: HouseholdState, dev_id: str, t: float, now: float,
                   out: list) -> None:
        """A bulb says it is alive. Most of a household's inputs are these, and all one moves
        is the bulb's deadline, so only that is recomputed (st.heard), not devices_changed."""
        devices = st.devices
        dev = devices.get(dev_id) if devices else None
        if dev is None or dev.mode is None:
            out.append(d.Rejected(st.id, now, ev.HEARTBEAT,
                                  f"device {dev_id} has not come online"))
            return
        if t <= dev.last_seen:
            return
        if dev.online:
            dev.last_seen = t
            if len(devices) == 1:  # st.heard for one bulb (most households): its deadline
                st.device_due = dev.deadline(self.config.missed_heartbeats)
            else:
                st.heard(self.config.missed_heartbeats)
        elif t > dev.changed_at:
            self._device_up(st, dev, t, now, out)  # sets last_seen, calls devices_changed
        else:
            dev.last_seen = t  # an offline bulb has no deadline: nothing else moves

    def _device_input(self, st: HouseholdState, dev_id: str, event: ev.Event, now: float,
                      out: list) -> None:
        t = event.time
        devices = st.devices
        dev = devices.get(dev_id) if devices else None
        if event.kind == ev.ONLINE:
            mode, heartbeat, boot = _online_detail(event.detail, self.config.heartbeat_s)
            if mode is None:
                out.append(d.Rejected(st.id, now, event.kind,
                                      f"device {dev_id}: bad online detail {event.detail!r}"))
                return
            if dev is None:
                if devices is None:
                    devices = st.devices = {}
                dev = devices[dev_id] = DeviceState(mode, heartbeat)
            if t <= dev.changed_at:
                return  # older than what we know of this device
            new_boot = boot is None or boot != dev.boot
            if mode == ev.SWITCHED and dev.changed_at > -NEVER:
                # Back after an outage: what it queued comes next (EngineConfig.late_s).
                st.hold_until = max(st.hold_until, now + self.config.backlog_grace_s)
            dev.mode, dev.heartbeat_s, dev.boot = mode, heartbeat, boot
            if st.last == -NEVER and st.alive_at == -NEVER:
                self._vouched(st, t)  # first heard of: the ceiling counts from here
            self._device_up(st, dev, t, now, out)
            if mode == ev.MAINS and new_boot:  # power came on: the wall switch was turned on
                self._resident(st, t, ev.ON, dev_id, now, out)
            return
        if dev is None or dev.mode is None:
            out.append(d.Rejected(st.id, now, event.kind,
                                  f"device {dev_id} has not come online"))
            return
        # OFFLINE (heartbeats go to _heartbeat): the last will, or an orderly goodbye.
        if t <= dev.changed_at or not dev.online:
            return
        self._device_down(st, dev_id, dev, t, now, out, "went offline (last will)")

    def _listening(self, st: HouseholdState, t: float) -> None:
        """The host hears again from t on (events.LISTENING): the heartbeats its outage kept
        from it are not missed, so each online bulb's deadline counts from t at the earliest.
        Offline bulbs have no deadline and are left as they are; an older t moves nothing."""
        moved = False
        for dev in (st.devices or {}).values():
            if dev.online and t > dev.listening_from:
                dev.listening_from = t
                moved = True
        if moved:
            st.devices_changed(self.config.missed_heartbeats)

    def _devices_silent(self, st: HouseholdState, now: float, out: list) -> None:
        missed = self.config.missed_heartbeats
        for dev_id, dev in (st.devices or {}).items():
            due = dev.deadline(missed)
            if dev.online and due <= now:
                # A mains bulb's silence dates from when it was last heard: no sign of life
                # is invented for the minutes it might still have been on.
                at = dev.last_seen if dev.mode == ev.MAINS else due
                self._device_down(st, dev_id, dev, at, now, out, f"missed {missed} heartbeats")
        st.devices_changed(missed)

    def _device_up(self, st: HouseholdState, dev: DeviceState, t: float, now: float,
                   out: list) -> None:
        dev.online = True
        dev.changed_at = t
        if t > dev.last_seen:
            dev.last_seen = t
        st.devices_changed(self.config.missed_heartbeats)
        case = st.device_case
        if case is not None and all(
            other.online for other in (st.devices or {}).values() if other.mode == ev.SWITCHED
        ):
            state = ladder.next_state(case.state, ladder.RECOVERED)
            if state is not None:
                st.device_case = None
                out.append(d.CaseResolved(st.id, now, case.id, ev.DEVICE_RECOVERED, None,
                                          "device back online"))

    def _device_down(self, st: HouseholdState, dev_id: str, dev: DeviceState, t: float,
                     now: float, out: list, why: str) -> None:
        dev.online = False
        dev.changed_at = t
        st.devices_changed(self.config.missed_heartbeats)
        if dev.mode == ev.MAINS:  # power went: the wall switch was turned off
            self._resident(st, t, ev.OFF, dev_id, now, out)
            return
        st.gap_clean = False
        if st.device_case is None:
            reason = Reason(d.DEVICE_OFFLINE, dev.last_seen, now - dev.last_seen, None, 0,
                            f"device {dev_id} {why}")
            case = self._open_case(st, d.DEVICE, d.CASE_OPEN, reason, now, out)
            out.append(d.Notify(st.id, now, case.id, "maintenance", False, 0, reason))


def _online_detail(detail: object, default_hb: float) -> tuple[str | None, float, object]:
    """(power mode, heartbeat seconds, boot) from an online input; mode None when bad."""
    if isinstance(detail, str):
        return (detail if detail in ev.POWER_MODES else None), default_hb, None
    if isinstance(detail, tuple) and len(detail) in (2, 3):
        mode, hb = detail[0], detail[1]
        boot = detail[2] if len(detail) == 3 else None
        ok_hb = type(hb) in (int, float) and math.isfinite(hb) and hb > 0
        if type(mode) is str and mode in ev.POWER_MODES and ok_hb:
            return mode, float(hb), boot
    return None, default_hb, None
