"""Human-readable sizes: the one formatter every report, table, log line and artifact uses, so
a size reads the same wherever it is printed (1 KB = 1024 bytes)."""

from __future__ import annotations

__all__ = ["human_size"]

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(n: int | float) -> str:
    """`512 B`, `2.9 KB`, `3.5 MB`, `1.2 GB`: bytes below 1 KB, else one decimal."""
    if n < 1024:
        return f"{int(n)} B"
    size = float(n)
    for unit in _UNITS:
        size /= 1024
        if size < 1024 or unit == _UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
