from __future__ import annotations

from pathlib import Path

import pytest

from livepark.config import load_config, resolve_secret
from livepark.configload import ConfigError, masked


def test_precedence_defaults_toml_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "lp.toml"
    f.write_text('[server]\nport = 9000\nhttp_port = 9001\n[rooms]\nseats = 6\n')
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


def test_secrets_are_masked() -> None:
    cfg = load_config(None, environ={"LIVEPARK_AUTH_SECRET": "hunter2", "LIVEPARK_AUTH_ADMIN_KEY": "k"})
    view = masked(cfg)
    assert view["auth"]["secret"] == "***" and view["auth"]["admin_key"] == "***"
    assert "hunter2" not in repr(view)


def test_dev_secret_is_created_once_and_private(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"LIVEPARK_AUTH_SECRET_FILE": str(tmp_path / "s" / "dev")})
    first = resolve_secret(cfg.auth)
    assert first == resolve_secret(cfg.auth) and len(first) >= 32
    assert (tmp_path / "s" / "dev").stat().st_mode & 0o077 == 0
