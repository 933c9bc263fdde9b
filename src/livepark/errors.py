"""Root of livepark's exception trees.

Every package defines its own subclass tree under :class:`LiveparkError` (``rooms.errors``,
``auth.errors``, ``danmaku.errors`` ...).  Each error carries a stable machine-readable
``code`` that is sent to clients verbatim and documented in ``docs/protocol.md``.
"""

from __future__ import annotations


class LiveparkError(Exception):
    """Base class of every error livepark raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code
