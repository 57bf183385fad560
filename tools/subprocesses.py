"""Ending the child processes that tools and tests start (brokers, VMs, socat)."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM, so the child can save what it keeps (mosquitto's persistence file); SIGKILL if
    it is still there after grace_s. Returns once it has been reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
