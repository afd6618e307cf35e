"""Ports: the interfaces the core owns and the adapters implement."""
