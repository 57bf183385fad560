-- Each bulb's broker login (issue 5). The MQTT user name is the device id; the store keeps only
-- the hash of the bulb's password, in Mosquitto's PBKDF2-SHA512 format ("$7$..."), which
-- `anbu broker config` writes into the broker's password file as it is. The password itself is
-- written only to the bulb's config.json.

CREATE TABLE device_credentials (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
