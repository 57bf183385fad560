"""host.toml's [notify] table: the example works, and every mistake is named where it is."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import host.notify
from host.notify import NotifyConfigError, from_config
from host.notify.config import settings
from host.notify.log import LogChannel
from host.notify.retry import Backoff
from host.notify.smtp import SmtpChannel
from host.notify.webhook import WebhookChannel

EXAMPLE = Path(host.notify.__file__).with_name("example.toml")
ENV = {
    "ANBU_WEBHOOK_SECRET": "s" * 32,
    "ANBU_SMS_RELAY_SECRET": "r" * 32,
    "ANBU_SMS_RELAY_TOKEN": "token-1",
    "ANBU_SMTP_USER": "anbu",
    "ANBU_SMTP_PASSWORD": "pw",
}
HOOK = {"url": "https://cases.example.org/hook", "secret_env": "HOOK"}
MAIL = {"host": "smtp.example.org", "from": "a@example.org", "to": ["b@example.org"]}


def test_the_example_parses_into_its_channels():
    table = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["notify"]
    s = settings(table, ENV)
    assert [(type(c), c.name) for c in s.channels] == [
        (LogChannel, "log"),
        (WebhookChannel, "case-system"),
        (WebhookChannel, "sms"),
        (SmtpChannel, "email"),
        (SmtpChannel, "maintenance-email"),
    ]
    log, cases, sms, mail, repair = s.channels
    assert (s.lang, s.queue_size, s.link) == ("ko", 1000, "https://anbu.example.org/cases/{case_id}")
    assert cases.backoff == Backoff(5, 600, 2, 10, 0.5)
    assert sms.backoff.max_attempts == 20 and sms.audiences == {"caseworker"}
    assert sms._headers == {"X-Relay-Token": "token-1"}
    assert (mail.port, mail.security, repair.port) == (587, "starttls", 587)
    assert repair.audiences == {"maintenance"}
    assert "s" * 32 not in repr(cases) and "pw" not in repr(mail)  # no secret in a log line


def test_no_table_means_the_log_alone(store):
    notifier = from_config(None, store)
    assert [c.kind for c in notifier.channels] == ["log"]
    notifier.close()
    assert settings({"log": False}, {}).channels == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"langs": "ko"}, "notify: unknown key 'langs'"),
        ({"lang": "fr"}, "notify.lang: 'fr' is not one of"),
        ({"link": "https://x/{case}"}, r"notify.link: .* may use only \{case_id\}"),
        ({"queue_size": 0}, "notify.queue_size must be at least 1"),
        ({"queue_size": True}, "notify.queue_size: wrong type bool"),
        ({"max_attempts": 0}, "notify: max_attempts must be an integer >= 1"),
        ({"backoff_jitter": 2}, "notify: backoff_jitter must be between 0 and 1"),
        ({"log": "yes"}, "notify.log must be a table or true/false"),
        ({"webhook": "https://x"}, "notify.webhook must be a table or an array of tables"),
        ({"webhook": {"url": "https://x"}}, r"notify.webhook\[0\]: `secret_env` is required"),
        ({"webhook": {**HOOK, "uri": 1}}, r"notify.webhook\[0\]: unknown key 'uri'"),
        ({"webhook": [HOOK, {**HOOK, "secret_env": "NOPE"}]},
         r"notify.webhook\[1\].secret_env: environment variable NOPE is not set"),
        ({"webhook": {**HOOK, "secret_env": "SHORT"}}, "shorter than 16 characters"),
        ({"webhook": {**HOOK, "url": "ftp://x/y"}}, "is not an http\\(s\\) URL"),
        ({"webhook": {**HOOK, "url": "http://cases.example.org/hook"}},
         "plain http is only for a relay on this host"),
        ({"webhook": {**HOOK, "audiences": ["family"]}}, "audiences: \\['family'\\]"),
        ({"webhook": {**HOOK, "backoff_max_s": 1, "backoff_initial_s": 5}},
         r"notify.webhook\[0\]: need 0 <= backoff_initial_s <= backoff_max_s"),
        ({"webhook": {**HOOK, "headers_env": {"Authorization": "MISSING"}}},
         r"headers_env.Authorization: environment variable MISSING is not set"),
        ({"webhook": [HOOK, HOOK]}, "two channels are named 'webhook'"),
        ({"email": {**MAIL, "security": "tls"}}, r"notify.email\[0\].security: 'tls'"),
        ({"email": {**MAIL, "to": "b@example.org"}}, r"notify.email\[0\].to: wrong type str"),
        ({"email": {**MAIL, "to": ["nobody"]}}, "a list of e-mail addresses"),
        ({"email": {**MAIL, "username_env": "HOOK"}}, "username_env and password_env go together"),
        ({"email": {**MAIL, "username_env": "HOOK", "password_env": "HOOK", "security": "none"}},
         "a password is not sent without TLS"),
        ({"email": {"from": "a@example.org", "to": ["b@example.org"]}}, "`host` is required"),
    ],
)
def test_a_mistake_is_named_where_it_is(table, message):
    with pytest.raises(NotifyConfigError, match=message):
        settings(table, {"HOOK": "h" * 20, "SHORT": "tiny"})
