"""The persistent event queue: every switch event stays on flash until the broker acked it.

One append-only file of lines `CRC BODY\n` (CRC32 of BODY, 8 hex digits):
  `E b s payload` an event, `A b s n` broker acked event (b, s) that carried n drops,
  `D b s` event (b, s) dropped because the queue was full, `C drops unreported` checkpoint.
A power cut can only tear the last line; replay ignores a line without its newline or with a
bad CRC, so the queue is never corrupt, only missing the event being written. Appends are
flushed one line at a time: 2 small writes per event (E, then A), plus a rewrite of the
pending lines once `compact_lines` lines are dead (acked or dropped): write to .tmp, then an
atomic rename. A backlog alone never triggers a rewrite.
RAM holds only (boot, seq, file offset) per pending event and the head's payload.
"""

import os
from binascii import crc32


class Journal:
    def __init__(self, path, cap, compact_lines=128):
        self.path = path
        self.cap = cap
        self.compact_lines = compact_lines
        self.pb = []  # boot numbers of pending events, oldest first
        self.ps = []  # their sequence numbers
        self.po = []  # their offsets in the file
        self.drops = 0  # dropped since first boot
        self.unreported = 0  # drops no acked event has reported yet (its `q`)
        self.torn = 0  # lines lost to a cut write (boot replay)
        self.corrupt = 0  # lines with a bad CRC before the end (flash damage)
        self.writes = 0  # flushed write calls: the flash-wear figure
        self.written = 0  # bytes in those writes
        self.lines = 0
        self.size = 0
        self.last_b = -1  # highest boot number seen in the file
        self._head = None
        self._f = None
        self._replay()
        if self.torn or self.corrupt or self.lines - len(self.pb) >= compact_lines:
            self.compact()
        else:
            self._f = open(path, "ab")

    # ---- replay ----
    def _replay(self):
        try:
            os.remove(self.path + ".tmp")  # a compaction cut short: the old file is intact
        except OSError:
            pass
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        off = 0
        try:
            while True:
                line = f.readline()
                if not line:
                    break
                here = off
                off += len(line)
                if line[-1:] != b"\n":
                    self.torn += 1  # cut in the middle of a write: the last line only
                    break
                body = self._check(line)
                if body is None:
                    self.corrupt += 1
                    continue
                self.lines += 1
                self._apply(body, here)
        finally:
            f.close()
        self.size = off
        if self.corrupt:
            print("journal: %d damaged line(s) skipped in %s" % (self.corrupt, self.path))

    @staticmethod
    def _check(line):
        if len(line) < 11 or line[8:9] != b" ":
            return None
        try:
            crc = int(line[:8], 16)
        except ValueError:
            return None
        body = line[9:-1]
        if crc32(body) & 0xFFFFFFFF != crc:
            return None
        return body

    def _apply(self, body, off):
        kind = body[:1]
        if kind == b"E":
            parts = body.split(b" ", 3)
            b, s = int(parts[1]), int(parts[2])
            self.pb.append(b)
            self.ps.append(s)
            self.po.append(off)
            if b > self.last_b:
                self.last_b = b
        elif kind == b"A":
            _, b, s, n = body.split(b" ")
            if self._pop(int(b), int(s)):
                self.unreported = max(0, self.unreported - int(n))
        elif kind == b"D":
            _, b, s = body.split(b" ")
            if self._pop(int(b), int(s)):
                self.drops += 1
                self.unreported += 1
        elif kind == b"C":
            _, d, u = body.split(b" ")
            self.drops, self.unreported = int(d), int(u)

    def _pop(self, b, s):
        if self.pb and self.pb[0] == b and self.ps[0] == s:
            self.pb.pop(0)
            self.ps.pop(0)
            self.po.pop(0)
            self._head = None
            return True
        return False

    # ---- writing ----
    @staticmethod
    def _line(body):
        data = body.encode()
        return b"%08x " % (crc32(data) & 0xFFFFFFFF) + data + b"\n"

    def _write(self, data):
        self._f.write(data)
        self._f.flush()
        self.size += len(data)
        self.writes += 1
        self.written += len(data)

    def append(self, b, s, payload):
        """Store one event; when full, the oldest pending event is dropped and counted."""
        data = b""
        if len(self.pb) >= self.cap:
            data = self._line("D %d %d" % (self.pb[0], self.ps[0]))
            self._pop(self.pb[0], self.ps[0])
            self.drops += 1
            self.unreported += 1
            self.lines += 1
        try:
            rec = self._line("E %d %d %s" % (b, s, payload))
            off = self.size + len(data)
            self._write(data + rec)
        except (OSError, MemoryError) as e:
            # flash full or failing, or no heap: count it as dropped, keep the lamp going
            self.drops += 1
            self.unreported += 1
            print("journal: cannot store event %d/%d (%s): counted as dropped" % (b, s, e))
            return
        self.lines += 1
        self.pb.append(b)
        self.ps.append(s)
        self.po.append(off)
        if b > self.last_b:
            self.last_b = b
        if self.lines - len(self.pb) >= self.compact_lines:
            self.compact()

    def head(self):
        """(boot, seq, payload) of the oldest unacknowledged event, or None."""
        if not self.pb:
            return None
        if self._head is None:
            with open(self.path, "rb") as f:
                f.seek(self.po[0])
                line = f.readline()
            body = self._check(line)
            parts = body.split(b" ", 3) if body is not None else ()
            if len(parts) != 4 or parts[0] != b"E" or int(parts[2]) != self.ps[0]:
                # only flash damage gets here: skip the record, never loop on it
                self.corrupt += 1
                self._pop(self.pb[0], self.ps[0])
                return self.head()
            self._head = (self.pb[0], self.ps[0], parts[3].decode())
        return self._head

    def ack(self, b, s, n=0):
        """The broker has event (b, s), which reported n drops in its `q`."""
        if not self._pop(b, s):
            return  # already dropped while in flight: nothing to record
        self.unreported = max(0, self.unreported - n)
        self._write(self._line("A %d %d %d" % (b, s, n)))
        self.lines += 1
        if self.lines - len(self.pb) >= self.compact_lines:
            self.compact()

    def compact(self):
        """Rewrite only what is still pending, then swap files atomically."""
        if self._f is not None:
            self._f.close()
            self._f = None
        tmp = self.path + ".tmp"
        offs = []
        size = 0
        src = None
        try:
            src = open(self.path, "rb")
        except OSError:
            pass
        with open(tmp, "wb") as out:
            data = self._line("C %d %d" % (self.drops, self.unreported))
            out.write(data)
            size = len(data)
            for off in self.po:
                src.seek(off)
                line = src.readline()
                out.write(line)
                offs.append(size)
                size += len(line)
            out.flush()
        if src is not None:
            src.close()
        self.writes += 1
        self.written += size
        os.rename(tmp, self.path)
        self.po = offs
        self.size = size
        self.lines = 1 + len(offs)
        self._f = open(self.path, "ab")

    def __len__(self):
        return len(self.pb)

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
