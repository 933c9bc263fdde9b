"""Type stub of the C extension ``livepark.media._fastsend`` (see ``_fastsend.c``)."""

from typing import Any

MAX_PACKET: int

class Sink:
    def __init__(
        self, srtp: int, protect: int, fd: int, host: str, port: int, transport: Any, keep: Any
    ) -> None: ...
    def counters(self) -> tuple[int, int]:
        """(datagrams sent, datagrams dropped on EAGAIN/ENOBUFS)."""

def fanout(data: bytes, sinks: list[Sink], /) -> tuple[int, int, list[tuple[Sink, str]] | None]: ...
