"""The gateway's configuration: typed settings loaded from YAML with ``${VAR}`` expansion.

A leaf package: it imports nothing else from ``gateway``.
"""

from gateway.settings.loader import ConfigError, load_settings, parse_settings
from gateway.settings.render import render_effective_config
from gateway.settings.schema import (
    BillingSettings,
    ByteSize,
    ClaudeUpstream,
    CorsSettings,
    Duration,
    EventsSettings,
    FeaturesSettings,
    GeminiUpstream,
    HttpSettings,
    LoggingSettings,
    MaskedSecret,
    MetricsSettings,
    NatsSettings,
    OpenAIUpstream,
    ProviderUpstream,
    ServerSettings,
    Settings,
    TracingSettings,
    UpstreamsSettings,
)
from gateway.settings.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "BillingSettings",
    "ByteSize",
    "ClaudeUpstream",
    "ConfigError",
    "CorsSettings",
    "Duration",
    "EventsSettings",
    "FeaturesSettings",
    "GeminiUpstream",
    "HttpSettings",
    "LoggingSettings",
    "MaskedSecret",
    "MetricsSettings",
    "NatsSettings",
    "OpenAIUpstream",
    "ProviderUpstream",
    "ServerSettings",
    "Settings",
    "TracingSettings",
    "UpstreamsSettings",
    "format_duration",
    "format_size",
    "load_settings",
    "parse_duration",
    "parse_settings",
    "parse_size",
    "render_effective_config",
]
