"""How numbers read on the console's pages: sizes in B/KB/MB, token amounts with separators."""

from __future__ import annotations

from typing import Any

from jinja2 import Undefined

KB = 1024
MB = 1024 * KB


def human_size(value: Any) -> str:
    """`812 B`, `1.5 KB`, `3.2 MB`: binary units, one decimal above a kilobyte. Blank when
    the value is missing: an asset enrolled by another client than the console (the bench
    workload, the CLI) has no `size` in its metadata, and its market row must still render."""
    if isinstance(value, Undefined):
        return ""
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
    """`12,345`: thousands separated, as prices and balances are read (blank when missing)."""
    if isinstance(value, Undefined):
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
