"""Shared Rich consoles and formatting for CLI output."""

from __future__ import annotations

import datetime as dt
import math

from rich.console import Console

console = Console()
console_err = Console(stderr=True)


def fmt_time(ms: int | None) -> str:
    """Format epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS``."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: float | None) -> str:
    """Format a metric value, keeping NaN and infinities visible."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def fmt_duration(start: int | None, end: int | None) -> str:
    """Format the time between two epoch-millisecond instants."""
    if start is None or end is None:
        return "-"
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def fmt_bytes(n: int | None) -> str:
    """Format a byte count with a binary unit."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}
