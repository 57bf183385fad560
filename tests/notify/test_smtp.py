"""The e-mail channel against a real local SMTP server (aiosmtpd): plain, STARTTLS and SSL."""

from __future__ import annotations

import re
import ssl

import pytest

from host.notify import from_config
from host.store import DEAD, SENT
from tests.firmware.rig import free_port, make_cert
from tests.notify.conftest import T0
from tests.notify.helpers import FAST, Metrics, bulb_gone, notify_all, settled, sos, the_notify
from tests.notify.receivers import SmtpReceiver

USER, PASSWORD = "anbu-host", "correct horse battery staple"
ENV = {"SMTP_USER": USER, "SMTP_PASSWORD": PASSWORD}


def email_notifier(store, port: int, metrics=None, **email):
    table = {"log": False, **FAST, "email": {
        "host": "127.0.0.1", "port": port, "security": "none",
        "from": "안부 알림 <anbu@example.org>", "to": ["caseworkers@example.org"], **email}}
    return from_config(table, store, metrics, env=ENV)


def test_an_alarm_arrives_by_email_with_the_korean_text_intact(store, smtp_server):
    metrics = Metrics()
    notifier = email_notifier(store, smtp_server.port, metrics)
    notify_all(notifier, sos())
    notifier.close()
    (mail,) = smtp_server.messages
    [row] = store.notifications()
    assert row.state == SENT
    assert mail["Subject"] == "[안부] 긴급: 김말순 님 안부 확인이 필요합니다"
    assert mail["From"] == "안부 알림 <anbu@example.org>"
    assert mail["To"] == "caseworkers@example.org"
    assert mail["Message-ID"] == f"<{row.payload['id']}@anbu.notify>"
    assert mail["Importance"] == "high"
    body = mail.get_content()
    assert body == row.payload["text"]
    assert body.startswith("김말순 님 (가구 h1)의 안부를 확인해 주세요.\n")
    assert "시각: 2025-11-25 01:00 (Asia/Seoul)" in body
    assert smtp_server.envelopes == [("anbu@example.org", ["caseworkers@example.org"])]
    assert metrics.counts == {("notifications_sent", "email"): 1}


def test_english_mail_for_maintenance_only(store, smtp_server):
    table = {"log": False, "lang": "en", "email": {
        "host": "127.0.0.1", "port": smtp_server.port, "security": "none",
        "from": "anbu@example.org", "to": ["repair@example.org", "lead@example.org"],
        "audiences": ["maintenance"]}}
    notifier = from_config(table, store)
    notify_all(notifier, sos() + bulb_gone(at=T0 + 3600))
    notifier.close()
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "[anbu] Device check: 김말순"
    assert "the device has been silent since 02:00" in mail.get_content()
    assert smtp_server.envelopes[0][1] == ["repair@example.org", "lead@example.org"]


@pytest.fixture
def tls_context(tmp_path):
    cert, key = make_cert(tmp_path / "tls", "smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def test_starttls_and_login_with_credentials_from_the_environment(store, tls_context):
    cert, context = tls_context
    server = SmtpReceiver(tls_context=context, require_starttls=True, auth_required=True,
                          authenticator=authenticator, server_hostname="localhost")
    try:
        notifier = email_notifier(store, server.port, security="starttls", ca_file=str(cert),
                                  host="localhost", username_env="SMTP_USER",
                                  password_env="SMTP_PASSWORD")
        notifier.notify(the_notify(sos()))
        notifier.close()
        wrong = email_notifier(store, server.port, security="starttls", ca_file=str(cert),
                               host="localhost", username_env="SMTP_USER",
                               password_env="SMTP_USER", name="wrong")
        wrong.notify(the_notify(bulb_gone(at=T0 + 3600)))
        wrong.close()
    finally:
        server.close()
    assert len(server.messages) == 1
    assert server.messages[0]["Subject"].startswith("[안부] 긴급")
    assert server.logins == [USER]
    sent, refused = store.notifications()
    assert (sent.state, sent.channel) == (SENT, "email")
    # A wrong password is not retried: it will not get better by itself.
    assert (refused.state, refused.attempts, refused.channel) == (DEAD, 1, "wrong")
    assert refused.last_error.startswith("SMTP 535 ")


def test_implicit_tls_and_an_untrusted_certificate(store, tls_context, tmp_path):
    cert, context = tls_context
    server = SmtpReceiver(ssl_context=context, server_hostname="localhost")
    other_ca, _ = make_cert(tmp_path / "other", "other")
    try:
        notifier = email_notifier(store, server.port, security="ssl", ca_file=str(cert),
                                  host="localhost")
        notifier.notify(the_notify(sos()))
        notifier.close()
        mistrusting = email_notifier(store, server.port, security="ssl",
                                     ca_file=str(other_ca), host="localhost", name="mistrust")
        mistrusting.notify(the_notify(bulb_gone(at=T0 + 3600)))
        mistrusting.close()
    finally:
        server.close()
    assert len(server.messages) == 1
    sent, refused = store.notifications()
    assert sent.state == SENT
    assert (refused.state, refused.attempts) == (DEAD, 1)
    # OpenSSL 1.1 spells it "self signed"
    assert re.fullmatch(f"SMTP server localhost:{server.port}: self[- ]signed certificate",
                        refused.last_error)


def test_a_mail_server_that_is_down_is_retried_then_a_dead_letter(store):
    metrics = Metrics()
    notifier = email_notifier(store, free_port(), metrics)
    notifier.notify(the_notify(sos()))
    [row] = settled(store, 1)
    notifier.close()
    assert (row.state, row.attempts) == (DEAD, 3)
    assert "ConnectionRefusedError" in row.last_error
    assert metrics.counts == {("notification_failures", "email"): 3,
                              ("notification_dead_letters", "email"): 1}
