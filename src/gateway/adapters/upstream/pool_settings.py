"""The upstream connection pool's settings, shared by both HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UpstreamPoolSettings:
    connect_timeout: float
    read_timeout: float  # the longest silence: before the headers and between body chunks
    pool_size: int = 512
    pool_per_host: int = 0  # 0: no limit per host beyond pool_size
    keepalive_timeout: float = 30.0
