"""`reelflow bench compress --ladder`: the whole ladder per source image, against sharp making
the same ladder (same boxes and qualities, one decode, clone() per rung) in the same run.

Each engine makes `rounds` passes over the images; its fastest pass (by CPU time) counts, so
a noisy neighbour on the machine slows a pass, not the figure.
Figures, per engine: source images per CPU-second (the ladder of one image is one unit),
bytes per rung, and mean SSIM per rung against a reference made from the full-size source
(Pillow's Lanczos resize of the decoded source to the rung's size, no compression). The
ratios are reelflow / sharp. Goal: >= 1.2x sharp's images per CPU-second, with bytes <=
1.02x and mean SSIM no worse. `--avif` also times reelflow with AVIF added to every rung.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelflow.core.errors import ToolUnavailable
from reelflow.core.imaging import ImagePolicy, render_ladder
from reelflow.core.ladder import Ladder, RungSpec

__all__ = ["LadderRun", "run_ladder"]


@dataclass
class LadderRun:
    """One engine over every image: CPU and wall time, bytes and SSIM per rung."""

    name: str
    images: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    bytes_per_rung: list[int] = field(default_factory=list)
    ssim_per_rung: list[float] = field(default_factory=list)
    cpu_rounds: list[float] = field(default_factory=list)

    @property
    def images_per_cpu_second(self) -> float:
        return self.images / self.cpu_seconds if self.cpu_seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_seconds_per_round": self.cpu_rounds,
            "images_per_cpu_second": round(self.images_per_cpu_second, 3),
            "bytes_per_rung": self.bytes_per_rung,
            "bytes": sum(self.bytes_per_rung),
            "mean_ssim_per_rung": [round(v, 5) for v in self.ssim_per_rung],
        }


def _references(data: bytes, specs: Sequence[RungSpec]) -> list[Any]:
    """Each rung's reference: the decoded source, Lanczos-resized to the rung's fitted size."""
    from PIL import Image, ImageOps

    from reelflow.bench.ssim import luma

    with Image.open(io.BytesIO(data)) as im:
        source = ImageOps.exif_transpose(im).convert("RGB")
    out = []
    for spec in specs:
        scale = min(spec.rung.max_width / source.width, spec.rung.max_height / source.height, 1)
        size = (round(source.width * scale), round(source.height * scale))
        out.append(luma(source.resize(size, Image.Resampling.LANCZOS)))
    return out


def _ssim(encoded: bytes, reference: Any) -> float:
    from PIL import Image

    from reelflow.bench.ssim import luma, ssim

    with Image.open(io.BytesIO(encoded)) as im:
        mine = luma(im.convert("RGB"))
    if mine.shape != reference.shape:  # a one-pixel rounding difference: compare the overlap
        h = min(mine.shape[0], reference.shape[0])
        w = min(mine.shape[1], reference.shape[1])
        mine, reference = mine[:h, :w], reference[:h, :w]
    return ssim(mine, reference)


def _ours(
    files: Sequence[Path], specs: Sequence[RungSpec], policy: ImagePolicy, name: str, rounds: int
) -> tuple[LadderRun, list[list[bytes]]]:
    run = LadderRun(name, bytes_per_rung=[0] * len(specs), cpu_seconds=float("inf"))
    inputs = [f.read_bytes() for f in files]
    render_ladder(inputs[0], specs, policy, placeholder=False)  # warm-up
    outputs: list[list[bytes]] = []
    for _ in range(rounds):
        outputs = []
        wall, cpu = time.perf_counter(), time.process_time()
        for data in inputs:
            rendering = render_ladder(data, specs, policy, placeholder=False)
            outputs.append([r.data for r in rendering.renditions])
        used = time.process_time() - cpu
        run.cpu_rounds.append(round(used, 3))
        if used < run.cpu_seconds:
            run.cpu_seconds, run.seconds = used, time.perf_counter() - wall
    run.images = len(inputs)
    for rungs in outputs:
        for index, encoded in enumerate(rungs):
            run.bytes_per_rung[index] += len(encoded)
    return run, outputs


def _sharp(
    files: Sequence[Path], specs: Sequence[RungSpec], rounds: int, say: Callable[[str], None]
) -> tuple[LadderRun, list[list[bytes]]]:
    import subprocess

    from reelflow.bench.compress.sharp import SHARP_DIR, ensure_sharp

    node = ensure_sharp(SHARP_DIR, say)
    ladder = ",".join(f"{s.rung.max_width}x{s.rung.max_height}@{s.quality}" for s in specs)
    with tempfile.TemporaryDirectory(prefix="reelflow-ladder-") as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(f) for f in files))
        out_dir = Path(tmp) / "out"
        done = subprocess.run(
            [
                node,
                str(SHARP_DIR / "ladder.mjs"),
                "--list",
                str(listing),
                "--ladder",
                ladder,
                "--out",
                str(out_dir),
                "--rounds",
                str(rounds),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise ToolUnavailable(f"sharp ladder failed (exit {done.returncode}): {tail}")
        report = json.loads(lines[-1])
        outputs = [
            [(out_dir / f"{i}-{r}.webp").read_bytes() for r in range(len(specs))]
            for i in range(len(files))
        ]
    run = LadderRun(
        f"sharp {report['sharp']} (libvips {report['libvips']})",
        images=int(report["images"]),
        seconds=float(report["seconds"]),
        cpu_seconds=float(report["cpu_seconds"]),
        bytes_per_rung=[sum(sizes[r] for sizes in report["sizes"]) for r in range(len(specs))],
        cpu_rounds=[round(float(c), 3) for c in report["cpu_rounds"]],
    )
    return run, outputs


def _score(run: LadderRun, outputs: list[list[bytes]], references: list[list[Any]]) -> None:
    count = len(references[0]) if references else 0
    run.ssim_per_rung = [
        sum(_ssim(outputs[i][r], references[i][r]) for i in range(len(references)))
        / len(references)
        for r in range(count)
    ]


def run_ladder(
    files: Sequence[Path],
    ladder: Ladder,
    *,
    avif: bool,
    rounds: int = 3,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Both engines over `files`; the figures as one JSON-ready dict."""
    os.environ.setdefault("VIPS_CONCURRENCY", "1")  # per core, as sharp.concurrency(1)
    from reelflow.core.imaging import _pyvips

    vips = _pyvips()
    if vips is not None:
        vips.concurrency_set(1)
    specs = Ladder(ladder.rungs).specs()  # WebP only: what sharp makes
    policy = ImagePolicy()
    names = ", ".join(f"{s.name} {s.rung.max_width}x{s.rung.max_height}@{s.quality}" for s in specs)
    say(f"ladder: {names}; {rounds} rounds per engine, the fastest counts")
    references = [_references(f.read_bytes(), specs) for f in files]
    sharp_run, sharp_out = _sharp(files, specs, rounds, say)
    ours_run, ours_out = _ours(files, specs, policy, "reelflow", rounds)
    _score(ours_run, ours_out, references)
    _score(sharp_run, sharp_out, references)
    result: dict[str, Any] = {
        "bench": "compress-ladder",
        "images": len(files),
        "rungs": [f"{s.name} {s.rung.max_width}x{s.rung.max_height} q{s.quality}" for s in specs],
        "reelflow": ours_run.as_json(),
        "sharp": {"engine": sharp_run.name, **sharp_run.as_json()},
        "speed_ratio": round(ours_run.images_per_cpu_second / sharp_run.images_per_cpu_second, 3),
        "bytes_ratio": round(sum(ours_run.bytes_per_rung) / sum(sharp_run.bytes_per_rung), 4),
        "ssim_delta_per_rung": [
            round(a - b, 5)
            for a, b in zip(ours_run.ssim_per_rung, sharp_run.ssim_per_rung, strict=True)
        ],
    }
    result["goals"] = {
        "speed >= 1.2x sharp": result["speed_ratio"] >= 1.2,
        "bytes <= 1.02x sharp": result["bytes_ratio"] <= 1.02,
        "mean SSIM no worse": sum(ours_run.ssim_per_rung) >= sum(sharp_run.ssim_per_rung),
    }
    if avif:
        both = Ladder(ladder.rungs, avif=True, avif_quality=ladder.avif_quality).specs()
        avif_run, _ = _ours(files, both, policy, "reelflow webp+avif", rounds)
        result["avif"] = {
            "quality": ladder.avif_quality,
            **avif_run.as_json(),
            "cpu_ratio_vs_webp_only": round(avif_run.cpu_seconds / ours_run.cpu_seconds, 3),
            "avif_bytes": sum(avif_run.bytes_per_rung[1::2]),
            "avif_bytes_ratio_vs_webp": round(
                sum(avif_run.bytes_per_rung[1::2]) / sum(avif_run.bytes_per_rung[0::2]), 3
            ),
        }
    return result


def describe(result: dict[str, Any]) -> list[str]:
    """The human-readable lines of a result."""
    ours, sharp = result["reelflow"], result["sharp"]
    lines = [
        f"{result['images']} images x ladder ({'; '.join(result['rungs'])})",
        f"  reelflow: {ours['images_per_cpu_second']:.2f} images/CPU-s, "
        f"{ours['bytes']} bytes, SSIM {ours['mean_ssim_per_rung']}",
        f"  {sharp['engine']}: {sharp['images_per_cpu_second']:.2f} images/CPU-s, "
        f"{sharp['bytes']} bytes, SSIM {sharp['mean_ssim_per_rung']}",
        f"  speed {result['speed_ratio']:.2f}x sharp, bytes {result['bytes_ratio']:.3f}x, "
        f"SSIM delta per rung {result['ssim_delta_per_rung']}",
    ]
    lines += [
        f"  goal {goal}: {'met' if met else 'NOT met'}" for goal, met in result["goals"].items()
    ]
    if "avif" in result:
        avif = result["avif"]
        lines.append(
            f"  AVIF (q{avif['quality']}) added to every rung: "
            f"{avif['cpu_ratio_vs_webp_only']:.2f}x the CPU of WebP alone; "
            f"AVIF bytes {avif['avif_bytes_ratio_vs_webp']:.2f}x the WebP bytes"
        )
    return lines
