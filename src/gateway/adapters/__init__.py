"""Adapters: the ports implemented with real technology (aiohttp, NATS, SQLite, HTTP billing)."""
