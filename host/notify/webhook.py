"""The webhook channel: the notice as a signed JSON POST.

The body is signed with HMAC-SHA256 over "<timestamp>.<body>", so a receiver can tell the post
came from this host (it knows the secret), that nobody changed it, and that it is fresh (the
timestamp is inside the signature; reject old ones against replay). `Idempotency-Key` is the
notice's id: the same on every retry and after a restart, so a receiver that got a post whose
answer was lost recognises the retry. docs/notifications.md says how to verify, in full.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from host.notify.channel import DeliveryError
from host.notify.notice import AUDIENCES
from host.notify.retry import DEFAULT, Backoff

SIGNATURE_HEADER = "X-Anbu-Signature"  # "v1=" + hex HMAC-SHA256(secret, f"{ts}.".encode() + body)
TIMESTAMP_HEADER = "X-Anbu-Timestamp"  # UTC seconds (integer) when this attempt was signed
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the notice id, the same on every attempt
ATTEMPT_HEADER = "X-Anbu-Attempt"  # 1, 2, ...: which attempt this is
TOLERANCE_S = 300  # how old (or how far ahead) a timestamp a receiver should accept

# Worth another try: the receiver or something in between is overloaded or down.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RESPONSE = 64 * 1024


class SignatureError(ValueError):
    """A post that must not be trusted; the message says why."""


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Anbu-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now: float,
           tolerance_s: float = TOLERANCE_S) -> None:
    """A receiver's check of one post (header values as received); raises SignatureError."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureError(f"{TIMESTAMP_HEADER} {timestamp!r} is not an integer") from None
    if abs(now - ts) > tolerance_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} {ts} is more than {tolerance_s:.0f} s from now")
    expected = sign(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), (signature or "").encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a bodiless GET: fail instead, and say so."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookChannel:
    kind = "webhook"

    def __init__(
        self,
        url: str,
        secret: bytes,
        name: str = "webhook",
        timeout_s: float = 10.0,
        audiences: frozenset[str] = frozenset(AUDIENCES),
        backoff: Backoff = DEFAULT,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url
        self.audiences = audiences
        self.backoff = backoff
        self._secret = secret
        self._timeout = timeout_s
        self._headers = dict(headers or {})
        self._clock = clock
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:  # never the secret
        return f"WebhookChannel({self.name!r}, {self.url!r})"

    def send(self, payload: dict, attempt: int) -> str:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        ts = int(self._clock())
        headers = {
            **self._headers,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "anbu-notify/1",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(self._secret, ts, body),
            IDEMPOTENCY_HEADER: str(payload["id"]),
            ATTEMPT_HEADER: str(attempt),
        }
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(_MAX_RESPONSE)
        except urllib.error.HTTPError as e:
            status = e.code
            retry_after = _retry_after(e.headers.get("Retry-After") if e.headers else None)
            e.close()
            permanent = status not in _RETRY_STATUS
            why = f"HTTP {status} {e.reason}"
            if 300 <= status < 400:
                why += " (a redirect: configure the final URL)"
            raise DeliveryError(why, permanent=permanent, retry_after=retry_after) from None
        except urllib.error.URLError as e:
            raise DeliveryError(f"cannot reach {self.url}: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise DeliveryError(f"{self.url}: {type(e).__name__}: {e}") from None
        return ""


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare for webhooks and is ignored."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
