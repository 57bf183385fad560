"""Runs the bulb after boot.py; on a PC the unix MicroPython VM runs this same file.

The config is read and its checker unloaded before the rest is imported: that keeps the
peak heap down on a small device.
"""

import gc

import config

cfg = config.settings("config.json")
del config
gc.collect()

import bulb  # noqa: E402

bulb.main(cfg)
