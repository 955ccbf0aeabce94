"""Human formatting of sizes, percentages and durations for tables."""

from __future__ import annotations

from typing import Any


def human_bytes(value: Any) -> str:
    """Return 1.5G-style text for a byte count."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        return "-"
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(size) < 1024 or unit == "P":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}P"  # pragma: no cover


def percent(value: Any) -> str:
    """Return 12.5% for a 0..1 fraction."""
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return "-"


def duration(seconds: Any) -> str:
    """Return 3d4h, 2h5m, 4m10s style text for seconds."""
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return "-"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def timestamp(value: Any) -> str:
    """Return a JSON time (`2026-12-06T02:22:36Z`) as every table shows a time: `2026-12-06 02:22:36Z`."""
    text = str(value)
    if "T" in text:
        text = text.replace("T", " ")
    if text.endswith("+00:00"):
        text = text[: -len("+00:00")] + "Z"
    if "." in text:
        head, _, tail = text.partition(".")
        text = head + ("Z" if tail.endswith("Z") else "")
    return text


def humanize(record: dict[str, Any]) -> dict[str, Any]:
    """Return a record for `describe` tables: byte counts, usage fractions and uptimes made readable."""
    shown: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            shown[key] = humanize(value)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            shown[key] = value
        elif key.endswith(("_used", "_total", "_size", "memory", "maxmem", "maxdisk")) or key in ("used", "total"):
            shown[key] = human_bytes(value)
        elif key.endswith("_usage"):
            shown[key] = percent(value)
        elif key == "uptime":
            shown[key] = duration(value)
        else:
            shown[key] = value
    return shown
