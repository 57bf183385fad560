"""The e-mail channel: the notice as a plain-text UTF-8 mail over SMTP (stdlib smtplib).

Security is "starttls" (port 587, the usual submission port), "ssl" (port 465) or "none" (a
relay on the same host). Credentials come from environment variables named in host.toml, never
from the file. The Message-ID is derived from the notice id, so a mail resent after a lost
answer is recognisable as the same notice.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from host.notify.channel import DeliveryError
from host.notify.notice import AUDIENCES
from host.notify.retry import DEFAULT, Backoff

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}


class SmtpChannel:
    kind = "email"

    def __init__(
        self,
        host: str,
        sender: str,
        to: list[str],
        name: str = "email",
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
        ca_file: str | None = None,
        audiences: frozenset[str] = frozenset(AUDIENCES),
        backoff: Backoff = DEFAULT,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"email channel {name!r}: security must be one of {SECURITY}")
        self.name = name
        self.host = host
        self.port = port or DEFAULT_PORT[security]
        self.security = security
        self.sender = sender
        self.to = list(to)
        self.audiences = audiences
        self.backoff = backoff
        self._username = username
        self._password = password
        self._timeout = timeout_s
        self._ca_file = ca_file

    def __repr__(self) -> str:  # never the password
        return f"SmtpChannel({self.name!r}, {self.host}:{self.port}, {self.security})"

    def message(self, payload: dict) -> EmailMessage:
        """The mail for one notice."""
        msg = EmailMessage()
        msg["Subject"] = payload["subject"]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{payload['id']}@anbu.notify>"
        msg["X-Anbu-Notice"] = f"{payload['kind']} {payload['id']}"
        if payload.get("urgent"):
            msg["Importance"] = "high"
            msg["X-Priority"] = "1"
        msg.set_content(payload["text"], charset="utf-8")
        return msg

    def send(self, payload: dict, attempt: int) -> str:
        msg = self.message(payload)
        context = ssl.create_default_context(cafile=self._ca_file)
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout,
                                          context=context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=context)
                if self._username:
                    client.login(self._username, self._password or "")
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            raise DeliveryError(f"SMTP refused every recipient: {_refused(e.recipients)}",
                                permanent=all(500 <= c < 600 for c in codes)) from None
        except smtplib.SMTPResponseException as e:
            text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) \
                else str(e.smtp_error)
            raise DeliveryError(f"SMTP {e.smtp_code} {text}",
                                permanent=500 <= e.smtp_code < 600) from None
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"SMTP server {self.host}:{self.port}: {e}",
                                permanent=True) from None
        except ssl.SSLCertVerificationError as e:
            raise DeliveryError(f"SMTP server {self.host}:{self.port}: {e.verify_message}",
                                permanent=True) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"SMTP server {self.host}:{self.port}: "
                                f"{type(e).__name__}: {e}") from None
        return f"refused: {_refused(refused)}" if refused else ""


def _refused(recipients: dict) -> str:
    return ", ".join(f"{addr} ({code})" for addr, (code, _) in recipients.items())
