"""`anbu serve`: the live host. MQTT in, the alarm engine on the wall clock, SQLite, knocks out
to bulbs, notifications out to people, /health and /metrics for operators (docs/host.md).

Modules: config (host.toml), ingest (message -> event), mqtt (paho session), timers, state
(the engine's journal and saved state), commands (knocks on the wire), metrics, web, logs,
service (the loop that wires them), run (the command line).
"""
