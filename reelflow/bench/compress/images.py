"""The benchmark's inputs: the JPEG/PNG files of a folder, or photo-like JPEGs written into it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "find_images", "generate_images"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def find_images(directory: Path) -> list[Path]:
    """Every JPEG/PNG directly in `directory` (by suffix, any case), sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def generate_images(directory: Path, count: int, width: int = 1920, height: int = 1080) -> int:
    """Write `count` photo-like JPEGs (seeds 0..count-1) unless `directory` already has images.

    Returns how many were written (0 when the directory already held JPEG/PNG files).
    """
    from reelflow.devtools.media import photo_jpeg

    if count <= 0 or find_images(directory):
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        (directory / f"photo-{seed:03d}.jpg").write_bytes(photo_jpeg(width, height, seed=seed))
    return count
