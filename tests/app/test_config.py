from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from livepark.config import hs256_secret, load_config, load_public_keys, resolve_secret
from livepark.configload import ConfigError, masked
from livepark.media.config import IceServer


def test_precedence_defaults_toml_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "lp.toml"
    f.write_text("[server]\nport = 9000\nhttp_port = 9001\n[rooms]\nseats = 6\n")
    env = {"LIVEPARK_SERVER_PORT": "9100", "LIVEPARK_AUTH_SECRET": "envsecret"}
    cfg = load_config(str(f), environ=env, overrides={"server": {"host": "0.0.0.0"}})
    assert cfg.server.port == 9100  # env beats TOML
    assert cfg.server.http_port == 9001  # TOML beats default
    assert cfg.server.host == "0.0.0.0"  # flag
    assert cfg.rooms.seats == 6 and cfg.auth.secret == "envsecret"
    assert cfg.server.ops_port == 7882  # default


def test_unknown_and_badly_typed_settings_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "lp.toml"
    f.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(str(f), environ={})
    with pytest.raises(ConfigError, match="integer"):
        load_config(None, environ={"LIVEPARK_SERVER_PORT": "eighty"})
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "missing.toml"), environ={})
    # A misspelt variable under a section's prefix is refused, not silently ignored ...
    with pytest.raises(ConfigError, match=r"LIVEPARK_MEDIA_LASTN: \[media\] has no 'lastn'"):
        load_config(None, environ={"LIVEPARK_MEDIA_LASTN": "0"})
    # ... while variables outside every section (the scripts' own knobs) are not settings.
    cfg = load_config(None, environ={"LIVEPARK_TEST_REDIS_URL": "redis://x", "LIVEPARK_NOFILE": "9"})
    assert cfg.media.last_n == 3


def test_secrets_are_masked() -> None:
    cfg = load_config(None, environ={"LIVEPARK_AUTH_SECRET": "hunter2", "LIVEPARK_AUTH_ADMIN_KEY": "k"})
    view = masked(cfg)
    assert view["auth"]["secret"] == "***" and view["auth"]["admin_key"] == "***"
    assert "hunter2" not in repr(view)
    # Plain settings that merely contain a secret word are shown as they are.
    assert view["media"]["keyframe_interval"] == cfg.media.keyframe_interval
    assert view["media"]["keyframe_retry"] == cfg.media.keyframe_retry


def test_dev_secret_is_created_once_and_private(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"LIVEPARK_AUTH_SECRET_FILE": str(tmp_path / "s" / "dev")})
    first = resolve_secret(cfg.auth)
    assert first == resolve_secret(cfg.auth) and len(first) >= 32
    assert (tmp_path / "s" / "dev").stat().st_mode & 0o077 == 0


def _pem_file(path: Path, key: object) -> Path:
    pub = key.public_key()  # type: ignore[attr-defined]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    path.write_bytes(pub.public_bytes(serialization.Encoding.PEM, spki))
    return path


def test_public_keys_only_turns_hs256_off_and_creates_no_dev_secret(tmp_path: Path) -> None:
    pem = _pem_file(tmp_path / "id.pem", ed25519.Ed25519PrivateKey.generate())
    env = {"LIVEPARK_AUTH_PUBLIC_KEYS": str(pem), "LIVEPARK_AUTH_SECRET_FILE": str(tmp_path / "dev")}
    cfg = load_config(None, environ=env)
    assert hs256_secret(cfg.auth) is None
    assert not (tmp_path / "dev").exists()
    assert load_public_keys(cfg.auth) == [pem.read_text()]
    # an explicit secret turns HS256 back on next to the keys; no keys: the dev secret
    assert hs256_secret(load_config(None, environ={**env, "LIVEPARK_AUTH_SECRET": "s"}).auth) == "s"
    dev = hs256_secret(load_config(None, environ={"LIVEPARK_AUTH_SECRET_FILE": str(tmp_path / "dev")}).auth)
    assert dev and (tmp_path / "dev").read_text().strip() == dev


def test_public_key_paths_expand_home_and_bad_ones_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _pem_file(tmp_path / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    _pem_file(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    cfg = load_config(None, environ={"LIVEPARK_AUTH_PUBLIC_KEYS": "~/rsa.pem,~/ec.pem"})
    assert len(load_public_keys(cfg.auth)) == 2

    (tmp_path / "junk.pem").write_text("not a key\n")
    private = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "private.pem").write_bytes(private)
    _pem_file(tmp_path / "p384.pem", ec.generate_private_key(ec.SECP384R1()))
    for name, message in (
        ("missing.pem", "cannot read"),
        ("junk.pem", "not a PEM public key"),
        ("private.pem", "not a PEM public key"),
        ("p384.pem", "P-256"),
    ):
        cfg = load_config(None, environ={"LIVEPARK_AUTH_PUBLIC_KEYS": f"~/{name}"})
        with pytest.raises(ConfigError, match=message) as excinfo:
            load_public_keys(cfg.auth)
        assert str(tmp_path / name) in str(excinfo.value)


def test_demo_needs_hs256_and_limits_are_validated(tmp_path: Path) -> None:
    pem = _pem_file(tmp_path / "id.pem", ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ConfigError, match="demo"):
        load_config(None, environ={"LIVEPARK_AUTH_PUBLIC_KEYS": str(pem), "LIVEPARK_DEMO_ENABLED": "1"})
    cfg = load_config(None, environ={"LIVEPARK_ROOMS_MAX_PUBLISHERS": "3", "LIVEPARK_ROOMS_MAX_ROOMS": "50"})
    assert (cfg.rooms.max_publishers, cfg.rooms.max_rooms) == (3, 50)
    assert cfg.rooms.room_config().max_publishers == 3
    with pytest.raises(ConfigError, match="max_publishers"):
        load_config(None, environ={"LIVEPARK_ROOMS_MAX_PUBLISHERS": "0"})
    with pytest.raises(ConfigError, match="max_rooms"):
        load_config(None, environ={"LIVEPARK_ROOMS_MAX_ROOMS": "0"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIVEPARK_DANMAKU_BATCH_WINDOW": "-1"}, r"^\[danmaku\]: batch_window must be positive"),
        ({"LIVEPARK_MEDIA_UDP_PORT_MIN": "40000"}, r"^\[media\]: udp_port_min/udp_port_max"),
        (
            {"LIVEPARK_MEDIA_UDP_PORT_MIN": "40100", "LIVEPARK_MEDIA_UDP_PORT_MAX": "40000"},
            r"^\[media\]: udp_port_min/udp_port_max.*got 40100\.\.40000",
        ),
        ({"LIVEPARK_MEDIA_LAST_N": "0"}, r"^\[media\]: last_n must be >= 1"),
        ({"LIVEPARK_MEDIA_SPEAKER_THRESHOLD": "1.5"}, r"^\[media\]: speaker_threshold"),
        ({"LIVEPARK_MEDIA_TICK_INTERVAL": "0"}, r"^\[media\]: tick_interval must be > 0"),
        ({"LIVEPARK_SERVER_PORT": "70000"}, r"^\[server\]: port must be within 0\.\.65535"),
        ({"LIVEPARK_SERVER_PUBLIC_URL": "https://live.example.org"}, r"^\[server\]: public_url"),
        ({"LIVEPARK_SIGNALING_MAX_FRAME_BYTES": "0"}, r"^\[signaling\]: max_frame_bytes must be > 0"),
    ],
)
def test_out_of_range_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ=env)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{ urls = [] }", "at least one URL"),
        ('{ urls = ["http://turn.example.org"] }', "not a STUN/TURN URL"),
        ('{ urls = ["turn.example.org:3478"] }', "not a STUN/TURN URL"),
        ('{ urls = ["stun:"] }', "not a STUN/TURN URL"),
        ('{ urls = ["stun:stun.example.org:99999"] }', "port out of range"),
        ('{ urls = ["stun:stun.example.org?transport=udp"] }', "for TURN URLs only"),
        ('{ urls = ["turn:turn.example.org?transport=sctp"], username = "u", credential = "p" }', "not a"),
        ('{ urls = ["turns:turn.example.org:5349"], username = "u" }', "needs 'username' and 'credential'"),
    ],
)
def test_bad_ice_server_entries_are_refused_at_startup(tmp_path: Path, entry: str, message: str) -> None:
    for key in ("ice_servers", "server_ice_servers"):
        f = tmp_path / "lp.toml"
        f.write_text(f"[media]\n{key} = [{entry}]\n")
        with pytest.raises(ConfigError, match=rf"^\[media\.{key}\]: .*{message}"):
            load_config(str(f), environ={})


def test_good_ice_server_urls_load(tmp_path: Path) -> None:
    urls = [
        "stun:stun.example.org",
        "stun:203.0.113.7:3478",
        "stuns:[2001:db8::1]:5349",
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org",
    ]
    f = tmp_path / "lp.toml"
    entry = f'{{ urls = {json.dumps(urls)}, username = "u", credential = "p" }}'
    f.write_text(f"[media]\nice_servers = [{entry}]\n")
    cfg = load_config(str(f), environ={})
    assert cfg.media.ice_servers == (IceServer(urls=tuple(urls), username="u", credential="p"),)
