"""host.toml: the example loads, and every mistake names the file and the key."""

from __future__ import annotations

import pytest

from host.serve.config import EXAMPLE, ConfigError, load, parse


def write(tmp_path, text: str):
    path = tmp_path / "host.toml"
    path.write_text(text)
    return path


def test_the_example_loads_and_its_paths_are_relative_to_it():
    cfg = load(EXAMPLE)
    assert cfg.database == str(EXAMPLE.parent / "anbu.db")
    assert cfg.mqtt.client_id == "anbu-host-main"
    assert cfg.mqtt.password_env == "ANBU_MQTT_PASSWORD"
    assert cfg.ingest.ack_timeout_s == 60.0
    assert cfg.engine.renotify_min == 30.0


def test_engine_fields_override_the_defaults_and_are_checked():
    cfg = parse({"store": {"path": "x.db"}, "engine": {"min_gap_h": 1, "renotify_min": 5,
                                                       "quiet_start_h": 0, "quiet_end_h": 0}})
    assert (cfg.engine.min_gap_h, cfg.engine.renotify_min) == (1, 5)
    with pytest.raises(ConfigError, match=r"engine.knock_gap_h: not an EngineConfig field"):
        parse({"store": {"path": "x.db"}, "engine": {"knock_gap_h": 3}})
    with pytest.raises(ConfigError, match=r"engine: knock_timeout_min must be shorter"):
        parse({"store": {"path": "x.db"}, "engine": {"knock_timeout_min": 600.0}})


@pytest.mark.parametrize(("text", "message"), [
    ("[mqtt]\nport = 1883\n", r"store.path: the database file is required"),
    ('[store]\npath = "a.db"\n[mqtt]\nprot = 1\n', r"mqtt.prot: unknown key; known: \['host'"),
    ('[store]\npath = "a.db"\n[mqtt]\nport = "1883"\n',
     r"mqtt.port: expected int >= 0, got '1883'"),
    ('[store]\npath = "a.db"\n[mqtt]\nclient_name = "Main_1"\n', r"mqtt.client_name: 'Main_1'"),
    ('[store]\npath = "a.db"\n[ingest]\nbatch_max = 0\n', r"ingest.batch_max: must be at least 1"),
    ('[store]\npath = "a.db"\n[web]\nport = -1\n', r"web.port: expected int >= 0, got -1"),
    ('[store]\npath = "a.db"\n[stor]\n', r"unknown table or key 'stor'"),
    ('[store\n', r"not valid TOML"),
])
def test_a_mistake_names_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_the_password_comes_from_the_environment_never_the_file(tmp_path, monkeypatch):
    cfg = load(write(tmp_path, '[store]\npath = "a.db"\n[mqtt]\npassword_env = "H1_TEST_PW"\n'))
    monkeypatch.delenv("H1_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="environment variable H1_TEST_PW is not set"):
        cfg.mqtt.password()
    monkeypatch.setenv("H1_TEST_PW", "s3cret-s3cret")
    assert cfg.mqtt.password() == "s3cret-s3cret"
    with pytest.raises(ConfigError, match="mqtt.password: unknown key"):
        load(write(tmp_path, '[store]\npath = "a.db"\n[mqtt]\npassword = "x"\n'))


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")
