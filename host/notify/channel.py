"""What every notification channel is: a name, who it is for, and a blocking `send`.

Channels do the network I/O and nothing else; they run on the dispatcher's worker threads
(host.notify.dispatch), which retry, record and count. A channel says whether a failure is
worth retrying: a server that is down may come back, a refused address or a bad secret will not.
"""

from __future__ import annotations

from typing import Protocol

from host.notify.retry import Backoff


class DeliveryError(Exception):
    """A send that failed; `permanent` when retrying cannot help (a dead letter at once)."""

    def __init__(self, message: str, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the server asked us to wait, if it did


class Channel(Protocol):
    name: str  # unique in host.toml; the metrics label and the store's channel column
    kind: str  # "webhook", "email" or "log"
    audiences: frozenset[str]  # "caseworker", "maintenance"
    backoff: Backoff

    def send(self, payload: dict, attempt: int) -> str:
        """Deliver one notice (host.notify.message.payload); returns a note, usually "".

        Raises DeliveryError when it did not go out.
        """
        ...
