"""What `reelflow bench compress` prints: `BenchResult.as_json()` and the human lines."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL
from PIL import features

from reelflow.bench.compress.timing import Timed

__all__ = ["BenchResult", "describe"]


@dataclass
class BenchResult:
    """Everything `reelflow bench compress` prints; `as_json()` is the last line."""

    files: list[Path]
    input_bytes: int
    ours: Timed
    baseline: Timed
    baseline_note: str
    pyvips: list[Timed]  # optional engines, measured only when pyvips is importable
    pyvips_note: str
    ssim: dict[str, list[float]]
    profile_ms: dict[str, float]
    kept_original: int
    refused: int

    def as_json(self) -> dict[str, Any]:
        ours = self.ours
        base = self.baseline
        data: dict[str, Any] = {
            "images": ours.images,
            "files": len(self.files),
            "rounds": ours.images // max(1, len(self.files)),
            "threads": ours.threads,
            "resampler": ours.info["resampler"],
            "seconds": round(ours.seconds, 4),
            "cpu_seconds": round(ours.cpu_seconds, 4),
            "images_per_second": round(ours.images_per_second, 3),
            "images_per_cpu_second": round(ours.images_per_cpu_second, 3),
            "input_bytes": self.input_bytes,
            "output_bytes": ours.output_bytes,
            "ssim_mean": _mean(self.ssim.get("ours")),
            "ssim_min": _min(self.ssim.get("ours")),
            "kept_original": self.kept_original,
            "refused": self.refused,
            "profile_ms": self.profile_ms,
            "baseline": _engine_json(base, self.ssim.get(base.name)) | {"note": self.baseline_note},
            "ratios": None,
            "pyvips": None,
            "machine": _machine(),
        }
        data["ratios"] = _ratios(data, base)
        base_ssim = data["baseline"]["ssim_mean"]
        data["ratios"]["ssim_mean"] = _ratio(data["ssim_mean"], base_ssim)
        if data["ssim_mean"] is not None and base_ssim is not None:
            data["ratios"]["ssim_delta"] = round(data["ssim_mean"] - base_ssim, 5)
        if self.pyvips:
            data["pyvips"] = {
                run.name: _engine_json(run, self.ssim.get(run.name))
                | {
                    "ratio_images_per_cpu_second": _ratio(
                        run.images_per_cpu_second, base.images_per_cpu_second
                    ),
                    "ratio_output_bytes": _ratio(run.output_bytes, base.output_bytes),
                }
                for run in self.pyvips
            }
        elif self.pyvips_note:
            data["pyvips"] = {"note": self.pyvips_note}
        return data


def _mean(values: Sequence[float] | None) -> float | None:
    return round(statistics.fmean(values), 5) if values else None


def _min(values: Sequence[float] | None) -> float | None:
    return round(min(values), 5) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _engine_json(run: Timed, scores: Sequence[float] | None) -> dict[str, Any]:
    return {
        "name": run.name,
        "threads": run.threads,
        "images": run.images,
        "seconds": round(run.seconds, 4),
        "cpu_seconds": round(run.cpu_seconds, 4),
        "images_per_second": round(run.images_per_second, 3),
        "images_per_cpu_second": round(run.images_per_cpu_second, 3),
        "output_bytes": run.output_bytes,
        "ssim_mean": _mean(scores),
    } | run.info


def _ratios(ours: dict[str, Any], base: Timed) -> dict[str, Any]:
    base_json = _engine_json(base, None)
    return {
        # per core: images per CPU second, ours (any thread count) / baseline (one thread)
        "images_per_cpu_second": _ratio(
            ours["images_per_cpu_second"], base_json["images_per_cpu_second"]
        ),
        # wall clock: ours with N threads / baseline with one
        "images_per_second": _ratio(ours["images_per_second"], base_json["images_per_second"]),
        "images_per_second_per_thread": _ratio(
            ours["images_per_second"] / ours["threads"], base_json["images_per_second"]
        ),
        "output_bytes": _ratio(ours["output_bytes"], base_json["output_bytes"]),
    }


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libwebp": features.version("webp"),
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def describe(data: dict[str, Any]) -> list[str]:
    """The human lines for `as_json()`'s figures."""
    kib = 1024
    lines = [
        f"reelflow compress_image ({data['threads']} thread(s), resampler "
        f"{data['resampler']}): "
        f"{data['images']} images in {data['seconds']:.2f} s = "
        f"{data['images_per_second']:.2f} img/s, {data['images_per_cpu_second']:.2f} img per "
        f"CPU-s; {data['input_bytes'] / kib:.0f} KiB -> {data['output_bytes'] / kib:.0f} KiB; "
        f"SSIM {data['ssim_mean']}",
        "  stage profile (ms/image, 1 thread): "
        + ", ".join(f"{k} {v}" for k, v in data["profile_ms"].items()),
    ]
    if data["kept_original"] or data["refused"]:
        lines.append(
            f"  kept original: {data['kept_original']}, refused (too large/not an image): "
            f"{data['refused']}"
        )
    base = data["baseline"]
    lines.append(
        f"baseline {base['name']} (1 thread; {base['note']}): {base['images_per_second']:.2f}"
        f" img/s, {base['images_per_cpu_second']:.2f} img per CPU-s; "
        f"{base['output_bytes'] / kib:.0f} KiB; SSIM {base['ssim_mean']}"
    )
    r = data["ratios"]
    lines.append(
        f"ratios to {base['name']}: per core (img per CPU-s) x{r['images_per_cpu_second']}, "
        f"wall img/s x{r['images_per_second']} "
        f"(per thread x{r['images_per_second_per_thread']}), "
        f"output bytes x{r['output_bytes']}"
    )
    vips = data["pyvips"] or {}
    if "note" in vips:
        lines.append(f"pyvips: {vips['note']}")
    for name, e in vips.items():
        if isinstance(e, dict):
            lines.append(
                f"{name} (libvips {e['libvips']}, 1 thread): {e['images_per_second']:.2f} img/s,"
                f" {e['images_per_cpu_second']:.2f} img per CPU-s"
                f" (x{e['ratio_images_per_cpu_second']} of the baseline);"
                f" {e['output_bytes'] / kib:.0f} KiB; SSIM {e['ssim_mean']}"
            )
    return lines
