"""Shared test helpers (import as ``from helpers.net import free_port``)."""
