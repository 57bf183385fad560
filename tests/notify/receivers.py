"""Real receivers for notification tests: an HTTP webhook server and an SMTP server.

The webhook receiver checks the signature with its own few lines (the recipe in
docs/notifications.md), not with host.notify.webhook.verify, so a bug shared by the signing and
the checking code cannot pass unseen.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from aiosmtpd.controller import Controller

from tests.firmware.rig import free_port

SECRET = "test-secret-0123456789abcdef"


class Post(NamedTuple):
    headers: dict[str, str]
    body: bytes
    payload: dict
    signature_ok: bool
    fresh: bool  # the timestamp is within 5 minutes of the receiver's clock


class WebhookReceiver:
    """A local HTTP server; `statuses` are answered in turn (then 200), or `always`."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret.encode()
        self.posts: list[Post] = []
        self.statuses: list[int] = []  # answers for the next posts, then 200
        self.always: int | None = None
        self.extra_headers: dict[str, str] = {}
        self.gate: threading.Event | None = None  # when set up, each post waits for it
        self.gate_open_in_time: list[bool] = []
        self.entered = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                receiver._handle(self)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/anbu"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.entered += 1
        if self.gate is not None:
            self.gate_open_in_time.append(self.gate.wait(10))
        body = request.rfile.read(int(request.headers["Content-Length"]))
        ts = request.headers.get("X-Anbu-Timestamp", "")
        # The receiver's recipe: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret.
        mac = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest("v1=" + mac, request.headers.get("X-Anbu-Signature", ""))
        fresh = ts.isdigit() and abs(time.time() - int(ts)) <= 300
        post = Post(dict(request.headers), body, json.loads(body), ok, fresh)
        with self._lock:
            self.posts.append(post)
            if self.always is not None:
                status = self.always
            else:
                status = self.statuses.pop(0) if self.statuses else 200
            if not ok:
                status = 401
        request.send_response(status)
        for name, value in self.extra_headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on a free port; `messages` are the parsed mails it accepted."""

    def __init__(self, **controller_options) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
                receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                receiver.messages.append(
                    email.message_from_bytes(envelope.original_content,
                                             policy=email.policy.default))
                if session.authenticated:
                    receiver.logins.append(session.auth_data.login.decode())
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     **controller_options)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
