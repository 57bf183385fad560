"""First file the ESP32 runs: keep it tiny so a broken main.py still leaves a usable REPL."""

import gc

gc.collect()
