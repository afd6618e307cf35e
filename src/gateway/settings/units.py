"""Human-friendly durations ("30s", "1h30m", "250ms") and sizes ("32MiB", "10MB").

Parsers return seconds as a float and bytes as an int and raise ``ValueError`` with a message
fit for a config error. Formatters produce strings that the parsers read back to the same value.
"""

import math
import re
from fractions import Fraction

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(rf"({_NUMBER})(ns|us|µs|ms|s|m|h|d)")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ns|us|µs|ms|s|m|h|d))+")
_BARE_NUMBER = re.compile(_NUMBER)
_DURATION_HINT = "(use e.g. 30s, 5m, 250ms)"

_BYTES_PER_UNIT = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(rf"({_NUMBER})\s*([A-Za-z]*)")
_SIZE_HINT = "(use e.g. 32MiB, 512KiB, 10MB, or a number of bytes)"
# Binary units first so that, on a tie, 1024 reads as 1KiB.
_UNITS = (
    ("TiB", 2**40),
    ("GiB", 2**30),
    ("MiB", 2**20),
    ("KiB", 2**10),
    ("TB", 10**12),
    ("GB", 10**9),
    ("MB", 10**6),
    ("KB", 10**3),
)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_duration(value: object) -> float:
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``250ms``, ``7d`` or a bare number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {_show(value)} {_DURATION_HINT}")
    seconds = _parse_duration_text(value) if isinstance(value, str) else float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"invalid duration {_show(value)} {_DURATION_HINT}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {_show(value)}")
    return seconds


def _parse_duration_text(value: str) -> float:
    text = value.strip()
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if _BARE_NUMBER.fullmatch(body):
        total = Fraction(body)
    elif _DURATION.fullmatch(body):
        total = (
            sum(
                (Fraction(num) * _NS_PER_UNIT[unit] for num, unit in _DURATION_PART.findall(body)),
                Fraction(0),
            )
            / _NS_PER_UNIT["s"]
        )
    else:
        raise ValueError(f"invalid duration {_show(value)} {_DURATION_HINT}")
    return -float(total) if negative else float(total)


def format_duration(seconds: float) -> str:
    """The shortest readable form, e.g. ``30s``, ``5m``, ``1h30m``, ``250ms``, ``1.5s``, ``7d``."""
    total_ns = round(seconds * 1_000_000_000)
    if total_ns < 0:
        return "-" + format_duration(-seconds)
    if total_ns == 0:
        return "0s"
    parts: list[str] = []
    rest = total_ns
    for unit in ("d", "h", "m"):
        count, rest = divmod(rest, _NS_PER_UNIT[unit])
        if count:
            parts.append(f"{count}{unit}")
    if rest:
        parts.append(_format_sub_minute(rest))
    return "".join(parts)


def _format_sub_minute(ns: int) -> str:
    if ns % 1_000_000_000 == 0:
        return f"{ns // 1_000_000_000}s"
    if ns < 1_000_000_000:
        for unit in ("ms", "us"):
            if ns % _NS_PER_UNIT[unit] == 0:
                return f"{ns // _NS_PER_UNIT[unit]}{unit}"
        return f"{ns}ns"
    whole, frac = divmod(ns, 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0") + "s"


def parse_size(value: object) -> int:
    """Bytes from ``32MiB``, ``512KiB``, ``1GiB``, ``10MB`` (decimal, 10**6) or a bare integer."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid size {_show(value)} {_SIZE_HINT}")
    if isinstance(value, int):
        size = Fraction(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"invalid size {_show(value)} {_SIZE_HINT}")
        size = Fraction(value)
    else:
        size = _parse_size_text(value)
    if size < 0:
        raise ValueError(f"size must not be negative, got {_show(value)}")
    if size.denominator != 1:
        raise ValueError(f"size {_show(value)} is not a whole number of bytes")
    return int(size)


def _parse_size_text(value: str) -> Fraction:
    text = value.strip()
    negative = text.startswith("-")
    match = _SIZE.fullmatch(text[1:] if negative else text)
    multiplier = _BYTES_PER_UNIT.get(match.group(2).lower()) if match else None
    if match is None or multiplier is None:
        raise ValueError(f"invalid size {_show(value)} {_SIZE_HINT}")
    size = Fraction(match.group(1)) * multiplier
    return -size if negative else size


def format_size(size: int) -> str | int:
    """``32MiB`` / ``10MB`` when a unit divides the size exactly, else the plain number of bytes."""
    exact = [(size // factor, unit) for unit, factor in _UNITS if size > 0 and size % factor == 0]
    if not exact:
        return size
    count, unit = min(exact, key=lambda pair: pair[0])
    return f"{count}{unit}"
