"""livepark: an asyncio backend for live streaming and voice-social rooms."""

__version__ = "0.1.0"
