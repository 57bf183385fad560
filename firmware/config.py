"""Device settings from config.json on flash, checked at boot.

A bad or missing setting is named on the REPL and replaced by its safe default; without a
usable network section the bulb still runs as a plain lamp that follows its switch.
"""

import json

FW_VERSION = "0.1.0"

# (dotted path, type, default, (min, max) or allowed values or None)
FIELDS = (
    ("device", str, None, None),
    ("power_mode", str, "switched", ("switched", "mains")),
    ("wifi.ssid", str, None, None),
    ("wifi.password", str, "", None),
    ("broker.host", str, None, None),
    ("broker.port", int, 0, (0, 65535)),
    ("broker.tls", bool, False, None),
    ("broker.ca", str, None, None),
    ("broker.user", str, None, None),
    ("broker.password", str, None, None),
    ("broker.keepalive", int, 60, (5, 3600)),
    ("pins.switch", int, 4, (0, 48)),
    ("pins.switch_active_low", bool, True, None),
    ("pins.lamp", int, 5, (0, 48)),
    ("lamp.freq", int, 1000, (100, 40000)),
    ("lamp.gamma", float, 2.2, (1.0, 3.5)),
    ("lamp.fade_ms", int, 250, (0, 5000)),
    ("lamp.on_level", int, 255, (1, 255)),
    ("switch.debounce_ms", int, 20, (1, 500)),
    ("hb", int, 300, (10, 3600)),
    ("queue.max", int, 200, (4, 5000)),
    ("queue.path", str, "queue.log", None),
    ("net.timeout_ms", int, 3000, (100, 60000)),
    ("net.backoff_min_ms", int, 1000, (10, 600000)),
    ("net.backoff_max_ms", int, 120000, (10, 3600000)),
    ("ntp.host", str, "pool.ntp.org", None),
    ("ntp.port", int, 123, (1, 65535)),
    ("ntp.resync_s", int, 21600, (10, 604800)),
    ("ntp.timeout_ms", int, 500, (50, 5000)),
    ("knock.answer_grace_s", int, 60, (0, 3600)),
    ("wdt_ms", int, 8000, (1000, 60000)),
    ("loop_ms", int, 5, (1, 50)),
)


def valid_device_id(s):
    """`[a-z0-9][a-z0-9-]{2,31}` without the re module's allocations."""
    if not 3 <= len(s) <= 32:
        return False
    for i, ch in enumerate(s):
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or (ch == "-" and i > 0)):
            return False
    return True


def _get(raw, path):
    node = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check(path, kind, value, limits):
    """An error text for one value, or None when it is fine."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool):
        return "expected int, got bool"
    if not isinstance(value, kind):
        return "expected %s, got %s" % (kind.__name__, type(value).__name__)
    if limits is None:
        return None
    if isinstance(limits[0], str):
        if value not in limits:
            return "expected one of %s, got %r" % ("/".join(limits), value)
    elif not limits[0] <= value <= limits[1]:
        return "expected %s..%s, got %r" % (limits[0], limits[1], value)
    return None


def validate(raw, unique_id=b""):
    """(settings as a flat dict, list of error texts). Never raises on bad input."""
    errors = []
    if not isinstance(raw, dict):
        errors.append("config: expected a JSON object at the top level")
        raw = {}
    cfg = {}
    for path, kind, default, limits in FIELDS:
        value = _get(raw, path)
        if value is None:
            cfg[path] = default
            continue
        err = _check(path, kind, value, limits)
        if err:
            errors.append("config: %s: %s; using the default %r" % (path, err, default))
            value = default
        elif kind is float:
            value = float(value)
        cfg[path] = value
    dev = cfg["device"]
    if dev is None or not valid_device_id(dev):
        fallback = "bulb-" + ("".join("%02x" % b for b in unique_id[-4:]) or "0000")
        if dev is not None:
            errors.append("config: device: %r is not [a-z0-9][a-z0-9-]{2,31}; using %r"
                          % (dev, fallback))
        cfg["device"] = fallback
    if cfg["net.backoff_max_ms"] < cfg["net.backoff_min_ms"]:
        errors.append("config: net.backoff_max_ms below net.backoff_min_ms; using the minimum")
        cfg["net.backoff_max_ms"] = cfg["net.backoff_min_ms"]
    if cfg["broker.user"] is not None and cfg["broker.password"] is None:
        # umqtt.simple sends a password with every user name (len(None) would crash connect)
        errors.append("config: broker.password missing for broker.user; using an empty one")
        cfg["broker.password"] = ""
    if cfg["broker.port"] == 0:
        cfg["broker.port"] = 8883 if cfg["broker.tls"] else 1883
    cfg["online"] = bool(cfg["wifi.ssid"] and cfg["broker.host"])
    if not cfg["online"]:
        errors.append("config: wifi.ssid or broker.host missing: running as a plain lamp")
    return cfg, errors


def load(path="config.json", unique_id=b""):
    """Read, validate and report; a missing or broken file gives the offline defaults."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as e:
        raw = {}
        print("config: cannot read %s (%s)" % (path, e))
    except ValueError as e:
        raw = {}
        print("config: %s is not valid JSON (%s)" % (path, e))
    cfg, errors = validate(raw, unique_id)
    for err in errors:
        print(err)
    return cfg


def settings(path="config.json"):
    """Boot-time load that also unloads this module: its tables are needed only once.

    main.py calls it before importing the rest, so the memory it frees is one block.
    """
    import sys

    import machine

    cfg = load(path, machine.unique_id())
    cfg["fw"] = FW_VERSION
    sys.modules.pop(__name__, None)
    return cfg
