"""Payloads of anbu protocol v1 (docs/protocol.md), built as compact JSON by hand.

Numbers are formatted from integers: ESP32 floats are single precision and would round an
epoch time by minutes. Only strings that come from outside (command ids) go through json.
"""

import json

V = 1
PREFIX = "anbu/v1/dev/"
KINDS = ("on", "off", "boot")
COMMANDS = ("knock", "knock_stop", "ping", "sync")


def topic(device, leaf):
    return PREFIX + device + "/" + leaf


def _time(t):
    """`"t":...,"sy":1` for an epoch time in (seconds, ms), or `"sy":0` when unknown."""
    if t is None:
        return '"sy":0'
    return '"t":%d.%03d,"sy":1' % t


def event(device, boot, seq, kind, up_ms, t=None, answer=None):
    a = "" if answer is None else ',"a":' + json.dumps(answer)
    return '{"v":1,"d":"%s","b":%d,"s":%d,"k":"%s",%s,"up":%d%s}' % (
        device, boot, seq, kind, _time(t), up_ms, a)


def with_drops(payload, n):
    """The event as sent: `q` tells how many older events the full queue dropped."""
    return payload if not n else payload[:-1] + ',"q":%d}' % n


def heartbeat(device, boot, t, up_ms, rssi, heap, depth, drops, rc, fw, lamp, heap_min):
    return ('{"v":1,"d":"%s","b":%d,%s,"up":%d,"rssi":%d,"heap":%d,"q":%d,"drop":%d,'
            '"rc":"%s","fw":"%s","lamp":%d,"hmin":%d}') % (
        device, boot, _time(t), up_ms, rssi, heap, depth, drops, rc, fw, lamp, heap_min)


def online(device, boot, mode, fw, hb, t):
    return '{"v":1,"d":"%s","b":%d,"st":"online","pm":"%s","fw":"%s","hb":%d,%s}' % (
        device, boot, mode, fw, hb, _time(t))


def offline(device, boot):
    return '{"v":1,"d":"%s","b":%d,"st":"offline"}' % (device, boot)


def ack(device, cmd_id, t, err=None):
    head = '{"v":1,"d":"%s","id":%s,' % (device, json.dumps(cmd_id))
    if err is None:
        return head + '"ok":1,' + _time(t) + "}"
    return head + '"ok":0,"err":%s,%s}' % (json.dumps(err), _time(t))


def _id_ok(cid):
    if not isinstance(cid, str) or not 1 <= len(cid) <= 32:
        return False
    for ch in cid:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "._:-"):
            return False
    return True


def command(raw):
    """(command dict, None) or (None or the id, error text): bad input never raises."""
    if len(raw) > 256:
        return None, "size"
    try:
        msg = json.loads(raw)
    except ValueError:
        return None, "json"
    if not isinstance(msg, dict):
        return None, "schema"
    cid = msg.get("id")
    if not _id_ok(cid):
        return None, "schema"  # no id we could ack under: dropped, the host's timeout tells
    if msg.get("v") != V:
        return cid, "version"
    c = msg.get("c")
    if c not in COMMANDS:
        return cid, "unknown command"
    if c == "knock":
        dur = msg.get("dur")
        if not isinstance(dur, int) or isinstance(dur, bool) or not 10 <= dur <= 3600:
            return cid, "dur must be 10..3600"
    return msg, None
