"""Check that a Redis URL answers PING or a PostgreSQL DSN answers SELECT 1.

Usage: python scripts/probe.py redis URL | pg DSN [--create-db]
Exit 0 when reachable, 1 otherwise (reason on stderr). Used by scripts/services.sh.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit


async def probe_redis(url: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        if not await client.ping():
            raise RuntimeError("PING did not return PONG")
    finally:
        await client.aclose()


async def probe_pg(dsn: str, create_db: bool) -> None:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except asyncpg.InvalidCatalogNameError:
        if not create_db:
            raise
        # Server is up but the database is missing: create it via the maintenance db.
        parts = urlsplit(dsn)
        dbname = parts.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=3)
        try:
            await admin.execute(f'CREATE DATABASE "{dbname}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(dsn, timeout=3)
    try:
        if await conn.fetchval("SELECT 1") != 1:
            raise RuntimeError("SELECT 1 did not return 1")
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("redis", "pg"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, target = argv[0], argv[1]
    try:
        if kind == "redis":
            asyncio.run(asyncio.wait_for(probe_redis(target), 5))
        else:
            asyncio.run(asyncio.wait_for(probe_pg(target, "--create-db" in argv), 10))
    except Exception as exc:  # any failure means "not usable"
        print(f"{kind} {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
