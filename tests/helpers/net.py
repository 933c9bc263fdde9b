"""Port helpers. A port is free when checked; bind it soon (another process could take it)."""

from __future__ import annotations

import socket


def _free(kind: socket.SocketKind, host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host``."""
    return _free(socket.SOCK_STREAM, host)


def unused_udp_port(host: str = "127.0.0.1") -> int:
    """An unused UDP port on ``host``."""
    return _free(socket.SOCK_DGRAM, host)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct unused TCP ports (all held open until every one is chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
