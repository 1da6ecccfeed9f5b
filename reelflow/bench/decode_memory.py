"""`reelflow bench decode-memory`: the peak memory of one compress call, per image format, at
the largest image the caps allow.

For each format and Pillow mode, an image is made at the largest size that the pixel cap
(REELFLOW_MAX_IMAGE_PIXELS) and the decode budget (REELFLOW_MAX_DECODE_MB, through
reelflow.core.imaging.decode_estimate) both accept, in 16:9. A fresh process reads it and
compresses it once; its peak RSS growth over the moment before the call is the figure.

Figures (one JSON line, last), per case: width, height, megapixels, file_mb, peak_mb (growth),
budget_mb, ratio (peak / budget: must stay under 1), bytes_per_pixel (growth / pixels decoded,
what DECODE_BYTES_PER_PIXEL models), estimate_mb.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

# (label, Pillow format to save, Pillow mode, save options)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("jpeg-rgb", "JPEG", "RGB", {"quality": 90}),
    ("jpeg-l", "JPEG", "L", {"quality": 90}),
    ("jpeg-cmyk", "JPEG", "CMYK", {"quality": 90}),
    ("png-rgb", "PNG", "RGB", {}),
    ("png-rgba", "PNG", "RGBA", {}),
    ("png-p", "PNG", "P", {}),
    ("png-p-transparent", "PNG", "PA", {}),
    ("png-l", "PNG", "L", {}),
    ("png-la", "PNG", "LA", {}),
    ("png-16bit", "PNG", "I;16", {}),
    ("gif-p", "GIF", "P", {}),
    ("webp-lossless-rgba", "WEBP", "RGBA", {"lossless": True}),
    ("webp-lossy-rgb", "WEBP", "RGB", {"quality": 80}),
    ("tiff-rgb", "TIFF", "RGB", {}),
    ("tiff-cmyk", "TIFF", "CMYK", {}),
    ("bmp-rgb", "BMP", "RGB", {}),
    ("avif-rgb", "AVIF", "RGB", {"quality": 60}),
]

_CHILD = r"""
import json, sys
from reelflow.core.imaging import ImagePolicy, compress_image, decode_estimate, _pyvips
from PIL import Image
Image.init(); _pyvips()
policy = ImagePolicy(**json.loads(sys.argv[2]))
data = open(sys.argv[1], "rb").read()

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak (VmHWM) starts again from the current RSS
before = status("VmRSS")
try:
    result = compress_image(data, policy)
    outcome = "compressed" if result.compressed else "kept: " + result.note[:60]
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"[:120]
print(json.dumps({"peak_bytes": status("VmHWM") - before, "outcome": outcome}))
"""


def _largest_size(fmt: str, mode: str, policy: Any) -> tuple[int, int]:
    """The largest 16:9 image the pixel cap and the decode budget both accept."""
    from reelflow.core.imaging import decode_estimate

    def fits(width: int) -> bool:
        height = width * 9 // 16
        if width * height > policy.max_pixels:
            return False
        if fmt == "JPEG":  # decoded at a reduced scale: the estimate is of what is decoded
            return True
        needed: int = decode_estimate(fmt, mode, (width, height), policy)
        return needed <= int(policy.max_decode_bytes)

    low, high = 16, 100_000
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low, low * 9 // 16


def _make(path: Path, fmt: str, mode: str, size: tuple[int, int], options: dict[str, Any]) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    width, height = size
    # Smooth photo-like content: random colours, upscaled (compresses like a real picture).
    seed = rng.integers(0, 255, (height // 48 + 2, width // 48 + 2, 4), dtype=np.uint8)
    im = Image.fromarray(seed, "RGBA").resize(size, Image.Resampling.BILINEAR)
    if mode == "P":
        im = im.convert("RGB").quantize(256)
    elif mode == "PA":  # a palette image with a transparent entry (tRNS): decodes to RGBA
        im = im.convert("RGB").quantize(256)
        im.info["transparency"] = 0
        mode = "P"
    elif mode == "I;16":
        grey = np.asarray(im.convert("L"), dtype=np.uint16) * 257
        im = Image.frombytes("I;16", size, grey.astype("<u2").tobytes())
    elif mode != "RGBA":
        im = im.convert(mode)
    im.save(path, fmt, **options)


def run_case(
    label: str, fmt: str, mode: str, options: dict[str, Any], policy: Any, workdir: Path
) -> dict[str, Any]:
    from reelflow.core.imaging import decode_estimate

    size = _largest_size(fmt, mode, policy)
    path = workdir / f"{label}.img"
    try:
        _make(path, fmt, mode, size, options)
    except (OSError, KeyError, ValueError) as exc:  # e.g. no AVIF encoder in this Pillow
        return {"case": label, "skipped": f"cannot write {fmt}: {exc}"}
    fields = {
        "max_pixels": policy.max_pixels,
        "max_decode_bytes": policy.max_decode_bytes,
        "resampler": policy.resampler,
    }
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), json.dumps(fields)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if child.returncode != 0:
        return {"case": label, "error": child.stderr.strip().splitlines()[-1:]}
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    width, height = size
    decoded = width * height
    if fmt == "JPEG":  # what libjpeg decodes: the draft scale for a 1280x720 target
        scale = 1
        while scale < 8 and width // (scale * 2) >= 1920 and height // (scale * 2) >= 1080:
            scale *= 2
        decoded = math.ceil(width / scale) * math.ceil(height / scale)
        estimate = decode_estimate(
            fmt, mode, (math.ceil(width / scale), math.ceil(height / scale)), policy
        )
    else:
        estimate = decode_estimate(fmt, mode, size, policy)
    peak = measured["peak_bytes"]
    return {
        "case": label,
        "width": width,
        "height": height,
        "megapixels": round(width * height / 1e6, 1),
        "file_mb": round(path.stat().st_size / 2**20, 2),
        "peak_mb": round(peak / 2**20, 1),
        "estimate_mb": round(estimate / 2**20, 1),
        "budget_mb": round(policy.max_decode_bytes / 2**20),
        "ratio": round(peak / policy.max_decode_bytes, 3),
        "bytes_per_pixel": round(peak / decoded, 2),
        "outcome": measured["outcome"],
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("decode-memory")
    def bench_decode_memory(
        cases: Annotated[
            str, typer.Option(help="Comma-separated case labels (default: every case)")
        ] = "",
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    ) -> None:
        """Peak memory of one compress call per format, at the largest image the caps allow."""
        from reelflow.core.imaging import ImagePolicy
        from reelflow.settings import get_settings

        settings = get_settings()
        policy = ImagePolicy(
            max_pixels=settings.max_image_pixels,
            max_decode_bytes=settings.max_decode_mb * 2**20,
        )
        wanted = {c for c in cases.split(",") if c}
        results = []
        with tempfile.TemporaryDirectory(prefix="reelflow-decode-") as tmp:
            for label, fmt, mode, options in CASES:
                if wanted and label not in wanted:
                    continue
                row = run_case(label, fmt, mode, options, policy, Path(tmp))
                results.append(row)
                if "peak_mb" in row:
                    typer.echo(
                        f"{label:20} {row['width']}x{row['height']} ({row['megapixels']} MP) "
                        f"peak {row['peak_mb']} MB of {row['budget_mb']} "
                        f"(ratio {row['ratio']}, {row['bytes_per_pixel']} B/px) {row['outcome']}"
                    )
                else:
                    typer.echo(f"{label:20} {row}")
        worst = max((r["ratio"] for r in results if "ratio" in r), default=0.0)
        summary = {"budget_mb": settings.max_decode_mb, "worst_ratio": worst, "cases": results}
        if as_json:
            typer.echo(json.dumps(summary))
