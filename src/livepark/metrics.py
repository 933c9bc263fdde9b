"""Prometheus metrics of the foundation (rooms, connections, signaling messages).

Subsystems define their own metrics next to their code (``danmaku/metrics.py`` ...), all on
prometheus_client's default registry, which ``/metrics`` exposes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ROOMS = Gauge("livepark_rooms", "Rooms open on this node", ["kind"])
PARTICIPANTS = Gauge("livepark_participants", "Members present in rooms on this node")
CONNECTIONS = Gauge("livepark_connections", "Open client WebSocket connections")
MESSAGES_IN = Counter("livepark_signaling_messages_in_total", "Client frames received", ["type"])
MESSAGES_OUT = Counter("livepark_signaling_messages_out_total", "Frames sent to clients")
ERRORS = Counter("livepark_signaling_errors_total", "Error replies sent", ["code"])
CLOSES = Counter("livepark_signaling_closes_total", "Connections closed by the server", ["code"])
