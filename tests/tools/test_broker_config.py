"""`anbu broker config`: a real Mosquitto on the written files lets each bulb speak only for
itself, lets the host read everything and command, and keeps a host's backlog."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest

from host import protocol
from host.store.sqlite import SqliteStore
from tests.firmware import rig
from tests.tools.conftest import HOST_PASSWORD, HOST_USER, RUN_AS, anbu, host_client, make_ca
from tools.broker_config import (
    HOST_ITERATIONS,
    ConfigError,
    Tls,
    check_password,
    hash_password,
    max_queued,
    write_broker_config,
)

PASSWORDS = {"bulb-a": "a-password-from-secrets", "bulb-b": "b-password-from-secrets"}
DEVICES = [(d, hash_password(pw)) for d, pw in PASSWORDS.items()]


def evt(device: str) -> str:
    return protocol.topic_for(device, protocol.EVT)


def test_hashes_are_mosquitto_passwd_s_format(tmp_path):
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto)")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "bulb-a", "their-password"], check=True,
                   capture_output=True, timeout=30)
    theirs = passwd.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$")
    assert check_password("their-password", theirs)  # we read theirs...
    assert not check_password("another-password", theirs)
    ours = hash_password("our-password")
    assert [len(part) for part in ours.split("$")[3:]] == [len(p) for p in theirs.split("$")[3:]]
    assert check_password("our-password", ours)  # ...and the broker takes ours (tests below)


def test_each_bulb_speaks_only_for_itself_and_the_host_reads_all(start_broker, clients):
    broker = start_broker(DEVICES)
    host = host_client(clients, broker.port)
    a = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"],
                subscribe=[(protocol.topic_for("bulb-a", protocol.CMD), 1),
                           (protocol.topic_for("bulb-b", protocol.CMD), 1)])
    b = clients(broker.port, "bulb-b", PASSWORDS["bulb-b"])
    assert a.accepted() and b.accepted()
    a.client.publish(evt("bulb-b"), b"forged by a", qos=1).wait_for_publish(5)
    a.client.publish(protocol.topic_for("bulb-b", protocol.STATUS), b"forged", qos=1,
                     retain=True).wait_for_publish(5)
    a.client.publish(evt("bulb-a"), b"from a", qos=1).wait_for_publish(5)
    b.client.publish(protocol.topic_for("bulb-b", protocol.HB), b"from b", qos=1)
    host.wait(lambda h: len(h.msgs) >= 2, 5, "the bulbs' own messages")
    for device in ("bulb-a", "bulb-b"):  # the host commands every bulb
        host.client.publish(protocol.topic_for(device, protocol.CMD), device.encode(), qos=1)
    a.wait(lambda c: c.msgs, 5, "bulb-a's command")
    time.sleep(0.3)  # room for anything that should not arrive
    assert sorted(host.msgs) == [(evt("bulb-a"), b"from a"),
                                 (protocol.topic_for("bulb-b", protocol.HB), b"from b")]
    assert a.msgs == [(protocol.topic_for("bulb-a", protocol.CMD), b"bulb-a")]  # not b's


def test_wrong_or_missing_credentials_are_refused(start_broker, clients):
    broker = start_broker(DEVICES)
    assert not clients(broker.port, "bulb-a", "not-its-password").accepted()
    assert not clients(broker.port, "bulb-z", "no-such-bulb").accepted()
    assert not clients(broker.port, None, None, client_id="bulb-a").accepted()  # anonymous
    assert not clients(broker.port, "bulb-a", PASSWORDS["bulb-b"]).accepted()  # b's password
    assert not clients(broker.port, HOST_USER, "guessed-password").accepted()


def test_a_stolen_password_cannot_take_over_another_bulb_s_session(start_broker, clients):
    broker = start_broker(DEVICES)
    b = clients(broker.port, "bulb-b", PASSWORDS["bulb-b"])
    assert b.accepted()
    thief = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"], client_id="bulb-b")
    assert thief.accepted()
    time.sleep(0.3)
    assert b.disconnects == 0  # its client id became "bulb-a": bulb-b's session is untouched
    assert "as bulb-a" in broker.log() and broker.log().count("as bulb-b") == 1


def test_the_host_s_backlog_outlives_mosquitto_s_default_queue(start_broker, clients):
    broker = start_broker(DEVICES)
    host = host_client(clients, broker.port)
    host.close()  # down, with its persistent session: everything now waits at the broker
    a = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"])
    assert a.accepted()
    n = 1500  # Mosquitto's default max_queued_messages is 1000
    for i in range(n):
        info = a.client.publish(evt("bulb-a"), str(i).encode(), qos=1)
    info.wait_for_publish(20)
    back = host_client(clients, broker.port)
    back.wait(lambda h: len(h.msgs) >= n, 20, f"{n} queued messages")
    assert [int(p) for _, p in back.msgs] == list(range(n))


def test_tls_listener_with_a_throwaway_ca(tmp_path, start_broker, clients):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes the test certificates")
    ca, cert, key = make_ca(tmp_path / "pki")
    broker = start_broker(DEVICES, tls=Tls(cert, key))
    host = host_client(clients, broker.port, ca=ca)
    a = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"], ca=ca)
    assert a.accepted()
    a.client.publish(evt("bulb-a"), b"over tls", qos=1)
    host.wait(lambda h: h.msgs, 5, "a message over TLS")
    plain = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"])  # no TLS: no MQTT at all
    time.sleep(0.5)
    assert plain.connacks == []


def test_written_files_keep_no_plaintext_and_set_the_fleet_limits(tmp_path):
    files = write_broker_config(tmp_path / "conf", DEVICES, HOST_USER, HOST_PASSWORD)
    passwd = files.passwd.read_text()
    assert HOST_PASSWORD not in passwd and not any(pw in passwd for pw in PASSWORDS.values())
    host_line = next(x for x in passwd.splitlines() if x.startswith(HOST_USER + ":"))
    assert host_line.split("$")[2] == str(HOST_ITERATIONS)
    assert check_password(HOST_PASSWORD, host_line.split(":", 1)[1])
    conf = files.conf.read_text().splitlines()
    for line in ("allow_anonymous false", "persistence true", "use_username_as_clientid true",
                 f"max_queued_messages {max_queued(2)}", "listener 1883"):
        assert line in conf
    assert max_queued(2) > 1000 and max_queued(5000) == 5_000_000
    acl = files.acl.read_text()
    assert "user bulb-a\ntopic write anbu/v1/dev/bulb-a/evt" in acl
    assert "topic read anbu/v1/dev/bulb-a/cmd" in acl and "pattern" not in acl
    assert oct(files.passwd.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("devices,user,password,message", [
    (DEVICES, "host", HOST_PASSWORD, "host user 'host' must be anbu-host-<name>"),
    (DEVICES, HOST_USER, "short", "at least 12 characters"),
    ([("bulb-a", "plain-password")], HOST_USER, HOST_PASSWORD, "hash is not Mosquitto's"),
    ([("Bulb_A", DEVICES[0][1])], HOST_USER, HOST_PASSWORD, "device id 'Bulb_A'"),
    ([DEVICES[0], DEVICES[0]], HOST_USER, HOST_PASSWORD, "listed twice"),
    ([("bulb-a", DEVICES[0][1] + "\nintruder:x")], HOST_USER, HOST_PASSWORD, "not Mosquitto's"),
])
def test_bad_input_names_what_and_writes_nothing(tmp_path, devices, user, password, message):
    with pytest.raises(ConfigError, match=message):
        write_broker_config(tmp_path / "conf", devices, user, password)
    assert not (tmp_path / "conf" / "passwd").exists()


def test_the_command_writes_from_the_store(tmp_path, capsys, monkeypatch, db):
    with SqliteStore(db) as store:
        store.provision_device("bulb-a", "h1", "switched", DEVICES[0][1])
        store.provision_device("bulb-b", "h2", "mains", DEVICES[1][1])
    out = tmp_path / "broker"
    monkeypatch.delenv("ANBU_HOST_PASSWORD", raising=False)
    ran = anbu(capsys, "broker", "config", "--db", db, "--out", out, "--host-user", HOST_USER)
    assert ran.rc == 2 and "ANBU_HOST_PASSWORD" in ran.err
    monkeypatch.setenv("ANBU_HOST_PASSWORD", HOST_PASSWORD)
    ran = anbu(capsys, "broker", "config", "--db", db, "--out", out, "--host-user", HOST_USER,
               "--port", rig.free_port())
    assert ran.rc == 0, ran.err
    assert "2 bulb(s)" in ran.out
    passwd = (out / "passwd").read_text()
    assert f"bulb-a:{DEVICES[0][1]}\n" in passwd and f"bulb-b:{DEVICES[1][1]}\n" in passwd
    ran = anbu(capsys, "broker", "config", "--db", tmp_path / "none.db", "--out", out)
    assert ran.rc == 2 and "no store at" in ran.err
    assert "Traceback" not in ran.err


def test_revoking_and_reloading_shuts_a_connected_bulb_out(tmp_path, start_broker, clients):
    broker = start_broker(DEVICES)
    a = clients(broker.port, "bulb-a", PASSWORDS["bulb-a"])
    b = clients(broker.port, "bulb-b", PASSWORDS["bulb-b"])
    assert a.accepted() and b.accepted()
    write_broker_config(tmp_path / "broker-conf", DEVICES[1:], HOST_USER, HOST_PASSWORD,
                        port=broker.port, bind="127.0.0.1", data_dir=broker.dir / "data",
                        log_dest=f"file {broker.dir}/mosquitto.log", run_as=RUN_AS)
    broker.proc.send_signal(signal.SIGHUP)  # Mosquitto re-reads passwd and acl
    a.wait(lambda c: c.disconnects, 5, "bulb-a thrown out")
    a.wait(lambda c: len(c.connacks) >= 2, 5, "bulb-a trying again")
    assert a.connacks[-1].is_failure and b.disconnects == 0
