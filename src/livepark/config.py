"""livepark's configuration: one dataclass per subsystem, loaded by :mod:`livepark.configload`."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from livepark.configload import ConfigError, build, env_overrides, merge
from livepark.danmaku.config import HubConfig
from livepark.media.config import MediaConfig
from livepark.rooms.config import RoomConfig


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """Public WebSocket listener (signaling + danmaku)."""
    port: int = 7880
    http_host: str = "127.0.0.1"
    """Public HTTP listener: demo pages, WHIP/WHEP."""
    http_port: int = 7881
    ops_host: str = "127.0.0.1"
    """Operators' listener: /healthz, /metrics, admin API. Bind it to a private address."""
    ops_port: int = 7882
    public_url: str = ""
    """Base URL clients use to reach the WebSocket listener (default ws://host:port)."""
    shutdown_grace: float = 5.0

    def __post_init__(self) -> None:
        for name in ("port", "http_port", "ops_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be within 0..65535 (0: any free port), got {port}")
        if self.public_url and not self.public_url.startswith(("ws://", "wss://")):
            raise ValueError(f"public_url must start with ws:// or wss://, got {self.public_url!r}")
        if self.shutdown_grace < 0:
            raise ValueError("shutdown_grace must be >= 0")


@dataclass(frozen=True)
class AuthConfig:
    secret: str = ""
    """HS256 secret. Empty: HS256 is off when ``public_keys`` are configured, otherwise a
    development secret is kept in ``secret_file``."""
    secret_file: str = "~/.local/state/livepark/dev-secret"
    public_keys: tuple[str, ...] = ()
    """PEM files (``~`` expanded) with RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA) public
    keys accepted for verification."""
    admin_key: str = ""
    """Bearer credential for the admin API (empty: admin API disabled)."""
    leeway: float = 5.0


@dataclass(frozen=True)
class RoomsConfig:
    seats: int = 8
    max_cohosts: int = 3
    max_participants: int = 10000
    max_publishers: int | None = None
    """Publishing members per room: host + seated speakers (voice) or co-hosts (live).
    Unset: ``seats + 1`` (voice), ``max_cohosts + 1`` (live). Beyond it: ``publishers_full``."""
    max_rooms: int | None = None
    """Rooms open at once on this node; creating another is refused with ``room_full``.
    Unset: no limit."""
    require_verified: bool = True
    idle_timeout: float = 300.0
    resume_grace: float = 20.0
    invite_ttl: float = 30.0

    def room_config(self) -> RoomConfig:
        """The settings every room of this node gets (``ValueError`` when out of range)."""
        return RoomConfig(
            seats=self.seats,
            max_cohosts=self.max_cohosts,
            invite_ttl=self.invite_ttl,
            require_verified=self.require_verified,
            max_participants=self.max_participants,
            max_publishers=self.max_publishers,
            idle_timeout=self.idle_timeout,
            resume_grace=self.resume_grace,
        )


@dataclass(frozen=True)
class SignalingConfig:
    max_frame_bytes: int = 64 * 1024
    auth_timeout: float = 5.0
    heartbeat_interval: float = 30.0
    idle_timeout: float = 75.0
    """Close a connection that sent nothing (not even a ping) for this long."""
    request_rate: float = 20.0
    request_burst: float = 40.0
    flood_strikes: int = 20
    """Requests refused for rate in a row before the connection is closed (4029)."""
    max_connections: int = 50000
    send_queue_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"{f.name} must be > 0, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class DemoConfig:
    enabled: bool = False
    """Serve /demo/token: anyone who reaches the HTTP listener gets a development token."""
    room: str = "demo"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    rooms: RoomsConfig = field(default_factory=RoomsConfig)
    signaling: SignalingConfig = field(default_factory=SignalingConfig)
    danmaku: HubConfig = field(default_factory=HubConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)


def load_config(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults < TOML file (``path`` or ``$LIVEPARK_CONFIG``) < environment < overrides."""
    env = os.environ if environ is None else environ
    path = path or env.get("LIVEPARK_CONFIG")
    cfg = Config()
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        cfg = build(Config, data)
    cfg = merge(cfg, env_overrides(Config, env))
    if overrides:
        cfg = merge(cfg, overrides)
    assert isinstance(cfg, Config)
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    try:
        cfg.rooms.room_config()
    except ValueError as exc:
        raise ConfigError(f"[rooms]: {exc}") from exc
    if cfg.rooms.max_rooms is not None and cfg.rooms.max_rooms < 1:
        raise ConfigError("[rooms]: max_rooms must be >= 1 (or unset: no limit)")
    if cfg.demo.enabled and cfg.auth.public_keys and not cfg.auth.secret:
        raise ConfigError(
            "[demo]: the demo pages mint HS256 tokens, but HS256 is off (auth.public_keys are "
            "configured and auth.secret is not): set auth.secret or turn the demo off"
        )


def hs256_secret(auth: AuthConfig) -> str | None:
    """The secret HS256 tokens are verified with; ``None`` (HS256 off) when public keys are
    configured and no secret is set. With neither, a development secret (:func:`resolve_secret`)."""
    if auth.secret:
        return auth.secret
    if auth.public_keys:
        return None
    return resolve_secret(auth)


_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)


def load_public_keys(auth: AuthConfig) -> list[str]:
    """The PEM text of each ``auth.public_keys`` file (``~`` expanded), checked to be an RSA,
    P-256 or Ed25519 public key; :class:`ConfigError` saying which file is wrong otherwise."""
    pems: list[str] = []
    for entry in auth.public_keys:
        path = Path(entry).expanduser()
        try:
            pem = path.read_text()
        except OSError as exc:
            raise ConfigError(f"auth.public_keys: cannot read {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"auth.public_keys: {path} is not a PEM file") from exc
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"auth.public_keys: {path} is not a PEM public key") from exc
        if not isinstance(key, _KEY_TYPES) or (
            isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1)
        ):
            raise ConfigError(
                f"auth.public_keys: {path}: only RSA (RS256), P-256 (ES256) and Ed25519 (EdDSA) keys"
            )
        pems.append(pem)
    return pems


def resolve_secret(auth: AuthConfig) -> str:
    """The HS256 secret: configured, or a development secret created once in ``secret_file``."""
    if auth.secret:
        return auth.secret
    p = Path(auth.secret_file).expanduser()
    if p.exists():
        value = p.read_text().strip()
        if value:
            return value
    p.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
