"""Running `gateway batch run` as a real process, and writing its input and config files."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import UPSTREAM_KEYS

ROOT = Path(__file__).resolve().parents[3]


def write_config(path: Path, upstream_url: str, **features: Any) -> Path:
    providers = "".join(
        f'  {name}: {{base_url: "{upstream_url}", api_key: "{key}"}}\n'
        for name, key in UPSTREAM_KEYS.items()
    )
    flags = {"new_api_enabled": False, "async_logging": False, **features}
    path.write_text(
        "features: " + orjson.dumps(flags).decode() + "\n"
        "upstreams:\n  connect_timeout: 2s\n  read_timeout: 5s\n" + providers
    )
    return path


def write_lines(path: Path, lines: list[dict[str, Any] | bytes]) -> Path:
    raw = [item if isinstance(item, bytes) else orjson.dumps(item) for item in lines]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def chat_line(custom_id: str) -> dict[str, Any]:
    body = {
        "model": "gpt-4o-mini",
        "user": custom_id,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def read_results(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "batch", "run", *args]


def batch_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), **extra}


async def start_batch(*args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *batch_command(*args),
        cwd=ROOT,
        env=batch_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_batch(*args: str, timeout: float = 60.0, **env: str) -> Finished:
    process = await start_batch(*args, **env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())
