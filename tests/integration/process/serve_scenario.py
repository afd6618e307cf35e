"""A real single-process Sanic server, as the gateway serves it, told to stop before it serves.

Run as a process of its own, since it holds SIGINT and SIGTERM:
`python -c "from tests.integration.process.serve_scenario import main; main()"`. It holds the
stop signals as the launcher does, takes a SIGTERM (after the launcher's last check, as it were),
then serves an app with the gateway's after_server_start check and, after it, a listener that
lets the loop turn while the start-up finishes. It prints `server stopped` when serve returns.
"""

from __future__ import annotations

import asyncio
import signal

from sanic import Sanic

from gateway.cli import stop_signals
from gateway.cli.server_stop import take_over_stop_signals
from gateway.devtools.loopback import free_port
from tests.integration.process.scenario_workers import say


def main() -> None:
    stop_signals.hold(second_kills=True)
    signal.raise_signal(signal.SIGTERM)
    assert stop_signals.held()
    app = Sanic("serve_scenario")
    app.add_route(lambda request: None, "/")  # Sanic serves no app without a route
    app.after_server_start(take_over_stop_signals)

    @app.after_server_start
    async def slow_listener(app: Sanic) -> None:  # type: ignore[type-arg]
        await asyncio.sleep(0.3)  # a start-up still finishing: the loop turns meanwhile

    app.prepare(host="127.0.0.1", port=free_port(), single_process=True, motd=False)
    Sanic.serve_single(primary=app)
    say("server stopped")
