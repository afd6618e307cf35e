import pytest

from gateway.settings import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("250ms", 0.25),
        ("1h30m", 5400.0),
        ("7d", 604800.0),
        ("1.5s", 1.5),
        ("100us", 0.0001),
        (" 2m ", 120.0),
        ("0", 0.0),
        ("45", 45.0),
        ("0.5", 0.5),
        (30, 30.0),
        (2.5, 2.5),
    ],
)
def test_parses_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["30 parsecs", "", "s", "5 m", "1h 30m", "30S", "abc", True, None, [1]]
)
def test_rejects_invalid_durations(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["-5s", -1, -0.5])
def test_rejects_negative_durations(value: object) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(value)


def test_rejects_non_finite_durations() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(float("inf"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (30.0, "30s"),
        (300.0, "5m"),
        (7200.0, "2h"),
        (5400.0, "1h30m"),
        (90.0, "1m30s"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (604800.0, "7d"),
        (0.0001, "100us"),
    ],
)
def test_formats_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("32MiB", 32 * 2**20),
        ("1GiB", 2**30),
        ("512KiB", 512 * 1024),
        ("10MB", 10_000_000),
        ("100KB", 100_000),
        ("1.5KiB", 1536),
        ("32 mib", 32 * 2**20),
        ("100B", 100),
        ("4096", 4096),
        (4096, 4096),
        (0, 0),
    ],
)
def test_parses_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("value", ["32 furlongs", "", "MiB", "1.2.3KB", False, None, {}])
def test_rejects_invalid_sizes(value: object) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(value)


def test_rejects_negative_and_fractional_sizes() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_size("-1MiB")
    with pytest.raises(ValueError, match="whole number of bytes"):
        parse_size("1.5B")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (32 * 2**20, "32MiB"),
        (2**30, "1GiB"),
        (1024, "1KiB"),
        (10_000_000, "10MB"),
        (10**12, "1TB"),
        (1000, "1KB"),
        (1500, 1500),
        (0, 0),
    ],
)
def test_formats_sizes(size: int, text: str | int) -> None:
    assert format_size(size) == text
    assert parse_size(text) == size
