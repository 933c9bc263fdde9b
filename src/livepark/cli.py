"""The ``livepark`` command: ``serve`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from livepark.auth.grants import Grants
from livepark.auth.tokens import mint_token
from livepark.config import Config, hs256_secret, load_config
from livepark.configload import ConfigError

ROLES = {
    "host": Grants(room_admin=True, can_publish=True),
    "speaker": Grants(can_publish=True),
    "viewer": Grants(),
    "danmaku": Grants(can_subscribe=False),
}


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, dict[str, Any]] = {}
    for section, key, attr in (
        ("server", "host", "host"),
        ("server", "port", "port"),
        ("server", "http_host", "http_host"),
        ("server", "http_port", "http_port"),
        ("server", "ops_host", "ops_host"),
        ("server", "ops_port", "ops_port"),
        ("server", "public_url", "public_url"),
        ("auth", "secret", "secret"),
        ("auth", "admin_key", "admin_key"),
        ("rooms", "seats", "seats"),
        ("rooms", "max_participants", "max_participants"),
        ("rooms", "max_publishers", "max_publishers"),
        ("rooms", "max_cohosts", "max_cohosts"),
        ("rooms", "max_rooms", "max_rooms"),
    ):
        value = getattr(ns, attr, None)
        if value is not None:
            o.setdefault(section, {})[key] = value
    if getattr(ns, "demo", False):
        o.setdefault("demo", {})["enabled"] = True
    if getattr(ns, "no_verify", False):
        o.setdefault("rooms", {})["require_verified"] = False
    return o


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livepark", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run a node with embedded defaults")
    serve.add_argument("--config", help="TOML file (also $LIVEPARK_CONFIG)")
    serve.add_argument("--host", help="public WebSocket listener address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="public WebSocket port (default 7880)")
    serve.add_argument("--http-host", help="HTTP listener: demo pages, WHIP/WHEP")
    serve.add_argument("--http-port", type=int, help="default 7881")
    serve.add_argument("--ops-host", help="operators' listener: /healthz /metrics /admin")
    serve.add_argument("--ops-port", type=int, help="default 7882")
    serve.add_argument("--public-url", help="WebSocket URL clients should use")
    serve.add_argument("--secret", help="HS256 token secret (prefer $LIVEPARK_AUTH_SECRET)")
    serve.add_argument("--admin-key", help="admin API bearer key (prefer $LIVEPARK_AUTH_ADMIN_KEY)")
    serve.add_argument("--seats", type=int, help="mic seats per voice room (default 8)")
    serve.add_argument(
        "--max-participants", type=int, help="members per room, hosts and admins excepted (default 10000)"
    )
    serve.add_argument(
        "--max-publishers",
        type=int,
        help="publishers per room, host included (default seats+1 / max-cohosts+1)",
    )
    serve.add_argument("--max-cohosts", type=int, help="co-hosts per live room (default 3)")
    serve.add_argument("--max-rooms", type=int, help="rooms open at once on this node (default: no limit)")
    serve.add_argument(
        "--no-verify",
        action="store_true",
        help="admit members whose token says verified=false (rooms.require_verified=false)",
    )
    serve.add_argument("--demo", action="store_true", help="serve demo pages that mint dev tokens")
    serve.add_argument("--log-level", default="INFO")
    tok = sub.add_parser("token", help="mint a development access token")
    tok.add_argument("--config")
    tok.add_argument("--room", required=True)
    tok.add_argument("--identity", required=True)
    tok.add_argument("--name")
    tok.add_argument("--role", choices=sorted(ROLES), default="viewer", help="grant preset (default viewer)")
    tok.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="NAME[=false]",
        help=f"set a grant on top of the preset: {', '.join(Grants.names())}",
    )
    tok.add_argument("--ttl", type=float, default=3600.0, help="seconds (default 3600)")
    tok.add_argument("--unverified", action="store_true", help="verified=false")
    tok.add_argument("--minor", action="store_true")
    tok.add_argument("--secret")
    return p


def _grants(ns: argparse.Namespace) -> Grants:
    claim = ROLES[ns.role].to_claim()
    for item in ns.grant:
        name, _, value = item.partition("=")
        if name not in claim:
            raise SystemExit(f"unknown grant {name!r}; known: {', '.join(Grants.names())}")
        claim[name] = value.lower() not in ("false", "0", "no")
    return Grants(**claim)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        config = load_config(ns.config, overrides=_overrides(ns))
    except ConfigError as exc:
        print(f"livepark: {exc}", file=sys.stderr)
        return 2
    if ns.cmd == "token":
        return _token(ns, config)
    logging.basicConfig(level=ns.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().level > logging.DEBUG:
        # aioice logs every ICE candidate-pair check at INFO: several lines per leg.
        logging.getLogger("aioice").setLevel(logging.WARNING)
    from livepark.app import serve

    try:
        try:
            import uvloop

            uvloop.run(serve(config))
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            asyncio.run(serve(config))
    except ConfigError as exc:  # e.g. an unreadable auth.public_keys file
        print(f"livepark: {exc}", file=sys.stderr)
        return 2
    return 0


def _token(ns: argparse.Namespace, config: Config) -> int:
    secret = ns.secret or hs256_secret(config.auth)
    if secret is None:
        print(
            "livepark: HS256 is off (auth.public_keys are configured, auth.secret is not); "
            "tokens come from your identity service, or pass --secret",
            file=sys.stderr,
        )
        return 2
    if ns.ttl <= 0:
        raise SystemExit("--ttl must be positive")
    token = mint_token(
        secret,
        room=ns.room,
        identity=ns.identity,
        name=ns.name,
        grants=_grants(ns),
        ttl=ns.ttl,
        verified=not ns.unverified,
        minor=ns.minor,
    )
    print(token)
    s = config.server
    page = "host.html" if ns.role == "host" else "viewer.html"
    # In the fragment, which browsers never send to a server (nor to its logs).
    print(f"demo URL: http://localhost:{s.http_port}/static/{page}#token={token}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
