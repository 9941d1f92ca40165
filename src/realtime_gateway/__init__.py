"""Realtime Gateway: mints short-lived realtime voice sessions; never hands out the provider key."""

__version__ = "0.1.0"
