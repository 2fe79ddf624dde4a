"""How numbers read on the console's pages: sizes in B/KB/MB, token amounts with separators."""

from __future__ import annotations

from typing import Any

KB = 1024
MB = 1024 * KB


def human_size(value: Any) -> str:
    """`812 B`, `1.5 KB`, `3.2 MB`: binary units, one decimal above a kilobyte."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return ""
    if size < KB:
        return f"{size} B"
    if size < MB:
        return f"{size / KB:.1f} KB"
    return f"{size / MB:.1f} MB"


def tokens(value: Any) -> str:
    """`12,345`: thousands separated, as prices and balances are read."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
