"""Sockets for umqtt.simple that never hold the device for long.

umqtt.simple blocks: connect() without a timeout, publish(qos=1) until a PUBACK that may never
come, and wait_msg() turns the socket back to fully blocking. Its module-level name `socket`
(in 1.3.x and 1.4+) is pointed at `Sockets`, whose connections are non-blocking underneath:
every read or write gives up after timeout_ms with OSError(ETIMEDOUT), and while it waits it
calls `service()` so the switch, the lamp and the watchdog keep running.
"""

import errno
import select
import socket
from time import sleep_ms, ticks_diff, ticks_ms

_AGAIN = (errno.EAGAIN, errno.ETIMEDOUT, errno.EINPROGRESS, errno.EALREADY)


def _again(e):
    return e.args and e.args[0] in _AGAIN


class Conn:
    def __init__(self, timeout_ms, service):
        self.raw = socket.socket()
        self.raw.setblocking(False)
        try:  # umqtt writes a packet in pieces: without this, Nagle holds them ~40 ms
            self.raw.setsockopt(getattr(socket, "IPPROTO_TCP", 6),
                                getattr(socket, "TCP_NODELAY", 1), 1)
        except (OSError, TypeError):
            pass
        self.io = self.raw  # the TLS layer once there is one
        self.timeout_ms = timeout_ms
        self.service = service
        self.nonblocking = False
        self.poller = select.poll()
        self.poller.register(self.raw, select.POLLIN)
        self.rx_ms = self.tx_ms = ticks_ms()
        self.rx = 0  # bytes received: tells "nothing came" apart from "handled a packet"

    def _wait(self, start, event):
        if ticks_diff(ticks_ms(), start) > self.timeout_ms:
            raise OSError(errno.ETIMEDOUT)
        self.service()
        if event == select.POLLIN:
            self.poller.poll(5)
        elif event:
            self.poller.modify(self.raw, event)
            self.poller.poll(5)
            self.poller.modify(self.raw, select.POLLIN)
        else:
            sleep_ms(2)

    def connect(self, addr):
        try:
            self.raw.connect(addr)
        except OSError as e:
            if not _again(e):
                raise
        start = ticks_ms()
        while True:
            self.poller.modify(self.raw, select.POLLOUT)
            ready = self.poller.poll(0)
            if ready:
                ev = ready[0][1]
                self.poller.modify(self.raw, select.POLLIN)
                if ev & (select.POLLERR | select.POLLHUP):
                    raise OSError(errno.ECONNREFUSED)
                if ev & select.POLLOUT:
                    return
            self._wait(start, select.POLLOUT)

    def setblocking(self, flag):
        # umqtt.simple calls setblocking(True) after every first byte: keep our deadline.
        self.nonblocking = not flag

    def settimeout(self, t):
        self.nonblocking = t == 0

    def read(self, n):
        buf = None
        start = ticks_ms()
        while True:
            want = n if buf is None else n - len(buf)
            try:
                chunk = self.io.read(want)
            except OSError as e:
                if not _again(e):
                    raise
                chunk = None
            if chunk == b"":
                raise OSError(errno.ECONNRESET)  # the peer closed the connection
            if chunk:
                self.rx_ms = ticks_ms()
                self.rx += len(chunk)
                buf = chunk if buf is None else buf + chunk
                if len(buf) >= n:
                    return buf
                continue
            if self.nonblocking and buf is None:
                return None
            self._wait(start, select.POLLIN)

    def write(self, data, length=None):
        if isinstance(data, str):
            data = data.encode()
        mv = memoryview(data)
        if length is not None:
            mv = mv[:length]
        total = len(mv)
        start = ticks_ms()
        while len(mv):
            try:
                k = self.io.write(mv)
            except OSError as e:
                if not _again(e):
                    raise
                k = None
            if k:
                mv = mv[k:]
                self.tx_ms = ticks_ms()
                continue
            self._wait(start, 0)
        return total

    def close(self):
        try:
            if self.io is not self.raw:
                self.io.close()
        finally:
            self.raw.close()


class Sockets:
    """Stands in for the socket module inside umqtt.simple."""

    def __init__(self, timeout_ms, service):
        self.timeout_ms = timeout_ms
        self.service = service
        self.last = None
        self._addr = {}

    def socket(self, *_args):
        self.last = Conn(self.timeout_ms, self.service)
        return self.last

    def getaddrinfo(self, host, port, *args):
        # DNS blocks; resolve once per connection target and forget it on failure.
        key = (host, port)
        if key not in self._addr:
            self._addr[key] = socket.getaddrinfo(host, port, *args)
        return self._addr[key]

    def forget(self):
        self._addr = {}


class Tls:
    """TLS for both umqtt.simple APIs: `ssl=` object (1.4+) and `import ussl` (1.3.x)."""

    def __init__(self, host, ca_path, timeout_ms):
        import ssl

        if not hasattr(ssl, "SSLContext"):
            raise ImportError("TLS needs MicroPython >= 1.23 (ssl.SSLContext)")
        self.host = host
        self.timeout_ms = timeout_ms
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca_path:
            with open(ca_path, "rb") as f:
                ca = f.read()
            if b"-----BEGIN" in ca:  # mbedtls here takes DER: unwrap the first PEM block
                from binascii import a2b_base64

                ca = ca.split(b"-----END")[0].split(b"-----\n", 1)[1]
                ca = a2b_base64(ca.replace(b"\n", b"").replace(b"\r", b""))
            self.ctx.load_verify_locations(cadata=ca)
            self.ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            self.ctx.verify_mode = ssl.CERT_NONE

    def wrap_socket(self, conn, server_hostname=None, **_params):
        # No handshake here: it runs inside the first reads and writes, which are
        # non-blocking and bounded like all others (the switch is served meanwhile).
        conn.io = self.ctx.wrap_socket(conn.raw, server_hostname=server_hostname or self.host,
                                       do_handshake_on_connect=False)
        return conn
