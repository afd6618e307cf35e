"""Entrypoints: the Sanic HTTP server (and the controllers it routes to)."""
