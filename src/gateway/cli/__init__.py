"""The `gateway` command: serve (the default), check-config, fake-provider, keys, batch.

This module stays light: `serve` holds the stop signals (stop_signals.py) before the gateway's
imports, which take most of a second, so a SIGTERM then stops the gateway cleanly instead of
killing it. Each command's module is imported when the command runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from gateway.cli import stop_signals

USAGE = """usage:
  gateway [-conf PATH]                     run the gateway (default config: configs/config.yaml)
  gateway check-config [-conf PATH]        validate, print the effective config (secrets masked)
  gateway fake-provider [--new-api] ...    run the offline fake provider (all three APIs)
  gateway keys add|list|revoke|usage ...   manage the local billing ledger's API keys
  gateway batch run INPUT.jsonl --output RESULTS.jsonl [-conf PATH] [--concurrency N]
"""
# Each command: (module, its function taking the command's arguments).
_COMMANDS = {
    "serve": ("gateway.cli.serve", "main"),
    "check-config": ("gateway.cli.serve", "check_config_main"),
    "fake-provider": ("gateway.devtools.fake_provider", "main"),
    "keys": ("gateway.cli.keys", "main"),
    "batch": ("gateway.cli.batch", "main"),
}


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and not args[0].startswith("-") else "serve"
    rest = args[1:] if command != "serve" else args
    if command not in _COMMANDS:
        raise SystemExit(f"gateway: unknown command {command!r}\n{USAGE}")
    if command == "serve":
        stop_signals.hold(second_kills=True)
    module_name, function = _COMMANDS[command]
    getattr(importlib.import_module(module_name), function)(rest)
