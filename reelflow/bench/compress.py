"""`reelflow bench compress DIR`: thumbnail throughput, size and quality against sharp.

Runs the project's own path (`compress_image` with the default `ImagePolicy`; --resampler
pillow forces Pillow's resize where pyvips is installed) over every JPEG/PNG in DIR with N
threads, and a baseline in the same run:

- sharp (libvips, what the seed used) via `bench/sharp/compress.mjs`, single-threaded, at the
  same settings (fit 1280x720 without enlarging, WebP q85 effort 4); installed once with
  `npm ci` into bench/sharp/node_modules when node is on PATH;
- otherwise a naive Pillow pipeline (open, EXIF transpose, LANCZOS resize, WebP q85 method 4),
  and the output says so.

When pyvips is importable (it is not a dependency), two more single-threaded engines are timed
for comparison: sharp's pipeline in pyvips, and libvips' decode + resize feeding Pillow's WebP.

Baseline and our path alternate round by round so that drift on a busy machine hits both.
Throughput is given per wall-clock second and per CPU second of the process (the per-core
figure: it holds for any thread count and is less disturbed by other processes than wall time).
Quality is the mean SSIM (`reelflow.bench.ssim`: 11x11 Gaussian window, sigma 1.5, in luma) of
each output against the source decoded at full resolution, turned upright and downscaled with
Pillow's LANCZOS to the output's own size. Human lines first; with --json one JSON line last.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import enum
import functools
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import PIL
import typer
from PIL import Image, ImageOps, features

from reelflow.errors import ReelflowError
from reelflow.imaging import CompressedImage, ImagePolicy, compress_image, resampler_in_use

__all__ = ["BenchResult", "find_images", "generate_images", "register", "run", "ssim_scores"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SHARP_DIR = Path(__file__).resolve().parents[2] / "bench" / "sharp"
_NPM_TIMEOUT = 300.0
_NODE_TIMEOUT = 1800.0
_LANCZOS = Image.Resampling.LANCZOS


class Baseline(enum.StrEnum):
    auto = "auto"  # sharp when node can run it, else pillow
    sharp = "sharp"  # sharp or fail
    pillow = "pillow"  # naive Pillow, no node needed


@dataclass
class Timed:
    """One engine's run over the images: outputs of the first round and the summed timings."""

    name: str
    outputs: list[bytes | None]  # per input, first round; None if the engine refused the input
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    images: int = 0
    threads: int = 1
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @property
    def images_per_cpu_second(self) -> float:
        return self.images / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def output_bytes(self) -> int:
        return sum(len(o) for o in self.outputs if o is not None)


@dataclass
class BenchResult:
    """Everything `reelflow bench compress` prints; `as_json()` is the last line."""

    files: list[Path]
    input_bytes: int
    ours: Timed
    baseline: Timed | None
    baseline_note: str
    pyvips: list[Timed]  # optional engines, measured only when pyvips is importable
    pyvips_note: str
    ssim: dict[str, list[float]]
    profile_ms: dict[str, float]
    kept_original: int
    refused: int

    def as_json(self) -> dict[str, Any]:
        ours = self.ours
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
            "baseline": None,
            "ratios": None,
            "pyvips": None,
            "machine": _machine(),
        }
        base = self.baseline
        if base is not None:
            data["baseline"] = _engine_json(base, self.ssim.get(base.name)) | {
                "note": self.baseline_note
            }
            data["ratios"] = _ratios(data, base)
            base_ssim = data["baseline"]["ssim_mean"]
            data["ratios"]["ssim_mean"] = _ratio(data["ssim_mean"], base_ssim)
            if data["ssim_mean"] is not None and base_ssim is not None:
                data["ratios"]["ssim_delta"] = round(data["ssim_mean"] - base_ssim, 5)
        else:
            data["baseline"] = {"name": None, "note": self.baseline_note}
        if self.pyvips:
            data["pyvips"] = {
                run.name: _engine_json(run, self.ssim.get(run.name))
                | {
                    "ratio_images_per_cpu_second": _ratio(
                        run.images_per_cpu_second, base.images_per_cpu_second if base else None
                    ),
                    "ratio_output_bytes": _ratio(
                        run.output_bytes, base.output_bytes if base else None
                    ),
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


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


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


# --- the images ---------------------------------------------------------------------------


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
    from reelflow.sandbox.media import photo_jpeg

    if count <= 0 or find_images(directory):
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        (directory / f"photo-{seed:03d}.jpg").write_bytes(photo_jpeg(width, height, seed=seed))
    return count


# --- engines ------------------------------------------------------------------------------


@contextlib.contextmanager
def _clock(run: Timed, images: int) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    run.seconds += time.perf_counter() - wall
    run.cpu_seconds += time.process_time() - cpu
    run.images += images


def _ours_one(data: bytes, policy: ImagePolicy) -> CompressedImage | None:
    try:
        return compress_image(data, policy)
    except ReelflowError:  # TooLarge / UnsupportedMedia: the flow would record and skip it
        return None


def _ours_round(
    datas: Sequence[bytes], threads: int, policy: ImagePolicy
) -> list[CompressedImage | None]:
    if threads == 1:
        return [_ours_one(d, policy) for d in datas]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(functools.partial(_ours_one, policy=policy), datas))


def _pillow_naive(data: bytes) -> bytes | None:
    """The baseline without node: open, EXIF transpose, LANCZOS fit in 1280x720, WebP q85 m4."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            upright = ImageOps.exif_transpose(im)
            upright.thumbnail((1280, 720), Image.Resampling.LANCZOS, reducing_gap=None)
            if upright.mode not in ("RGB", "RGBA"):
                upright = upright.convert("RGBA" if "A" in upright.mode else "RGB")
            out = io.BytesIO()
            upright.save(out, "WEBP", quality=85, method=4)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _pyvips_engines(pyvips: Any) -> dict[str, Callable[[bytes], bytes | None]]:
    """sharp's pipeline in pyvips, and libvips' decode + resize feeding Pillow's WebP encoder.

    Both: vips_thumbnail (EXIF autorotate, JPEG shrink-on-load, lanczos3), fit 1280x720.
    """
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

    def thumbnail(data: bytes) -> Any:
        return pyvips.Image.thumbnail_buffer(data, 1280, height=720, size="down")

    def vips_webp(data: bytes) -> bytes | None:
        try:
            return bytes(thumbnail(data).webpsave_buffer(Q=85, effort=4, keep="none"))
        except pyvips.Error:
            return None

    def pillow_webp(data: bytes) -> bytes | None:
        try:
            im = thumbnail(data).cast("uchar")
            mode = modes[im.bands]
            pixels = Image.frombuffer(mode, (im.width, im.height), im.write_to_memory(), "raw")
            out = io.BytesIO()
            pixels.convert("RGBA" if "A" in mode else "RGB").save(out, "WEBP", quality=85, method=4)
            return out.getvalue()
        except (pyvips.Error, KeyError):
            return None

    return {"pyvips": vips_webp, "pyvips-resize+pillow-webp": pillow_webp}


class SharpUnavailable(Exception):
    """node, npm or sharp cannot run here; the message says why."""


def _ensure_sharp(sharp_dir: Path, say: Callable[[str], None]) -> str:
    """Install sharp into sharp_dir/node_modules once; return the node executable."""
    node = shutil.which("node")
    if node is None:
        raise SharpUnavailable("node is not on PATH")
    if not (sharp_dir / "compress.mjs").is_file():
        raise SharpUnavailable(f"{sharp_dir}/compress.mjs not found (not a source checkout?)")
    if not (sharp_dir / "node_modules" / "sharp" / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SharpUnavailable("npm is not on PATH")
        verb = "ci" if (sharp_dir / "package-lock.json").is_file() else "install"
        say(f"installing sharp: npm {verb} --prefix {sharp_dir}")
        try:
            done = subprocess.run(
                [npm, verb, "--no-audit", "--no-fund", "--prefix", str(sharp_dir)],
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SharpUnavailable(f"npm {verb} took over {_NPM_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SharpUnavailable(f"npm {verb} failed: {' | '.join(tail)}")
    return node


def _sharp_round(
    node: str, sharp_dir: Path, list_file: Path, out_dir: Path | None
) -> dict[str, Any]:
    command = [node, str(sharp_dir / "compress.mjs"), "--list", str(list_file)]
    if out_dir is not None:
        command += ["--out", str(out_dir)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_NODE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SharpUnavailable(f"sharp took over {_NODE_TIMEOUT:.0f} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        raise SharpUnavailable(f"sharp failed (exit {done.returncode}): {' | '.join(tail)}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


# --- quality and profile ------------------------------------------------------------------


def ssim_scores(
    datas: Sequence[bytes], engines: Mapping[str, Sequence[bytes | None]]
) -> dict[str, list[float]]:
    """Per engine, the SSIM of each output against its source's LANCZOS reference.

    One source at a time: decoded at full resolution, turned upright (EXIF), downscaled with
    Pillow's LANCZOS to each output's size (once per size), compared in luma. Outputs that are
    missing or smaller than the 11x11 window are skipped.
    """
    import numpy as np  # noqa: F401 - for the annotation below; loaded only when scoring

    from reelflow.bench.ssim import luma, ssim

    scores: dict[str, list[float]] = {name: [] for name in engines}
    for index, data in enumerate(datas):
        outputs = {name: outs[index] for name, outs in engines.items() if outs[index] is not None}
        if not outputs:
            continue
        with Image.open(io.BytesIO(data)) as im:
            full = ImageOps.exif_transpose(im)
            full.load()
        references: dict[tuple[int, int], np.ndarray[Any, Any]] = {}
        for name, output in outputs.items():
            assert output is not None
            with Image.open(io.BytesIO(output)) as out:
                if min(out.size) < 11:
                    continue
                if out.size not in references:
                    scaled = full if full.size == out.size else full.resize(out.size, _LANCZOS)
                    references[out.size] = luma(scaled)
                scores[name].append(ssim(references[out.size], luma(out)))
    return scores


_STAGES = (
    ("decode", ("ImagingDecoder",)),
    ("encode", ("WebPEncode", "ImagingEncoder")),
)


def profile_stages(datas: Sequence[bytes], policy: ImagePolicy) -> dict[str, float]:
    """Mean CPU ms per image in decoding, resizing and WebP encoding, by cProfile.

    decode and encode: time inside Pillow's decoder and encoder; resize: the whole of
    reelflow.imaging._resize (Pillow's or libvips' resampler, with libvips' copies in and out).
    The rest of compress_image (sniffing, EXIF, mode conversions, transposes, Python) is
    'other'. One pass, one thread, separate from the timed rounds.
    """
    profiler = cProfile.Profile(time.process_time)  # CPU time: steady on a busy machine
    cpu = time.process_time()
    profiler.enable()
    for data in datas:
        _ours_one(data, policy)
    profiler.disable()
    total = time.process_time() - cpu
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages = dict.fromkeys(("decode", "resize", "encode"), 0.0)
    for (file, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        if name == "_resize" and file.endswith("imaging.py"):
            stages["resize"] += cumtime
            continue
        for stage, needles in _STAGES:
            if stage != "resize" and any(n in name for n in needles):
                stages[stage] += tottime
                break
    n = max(1, len(datas))
    out = {k: round(v / n * 1000, 2) for k, v in stages.items()}
    out["other"] = round(max(0.0, total - sum(stages.values())) / n * 1000, 2)
    out["total"] = round(total / n * 1000, 2)
    return out


# --- the run ------------------------------------------------------------------------------


def run(
    files: Sequence[Path],
    threads: int = 1,
    rounds: int = 1,
    baseline: Baseline = Baseline.auto,
    sharp_dir: Path = SHARP_DIR,
    with_ssim: bool = True,
    with_pyvips: bool = True,
    policy: ImagePolicy | None = None,
    say: Callable[[str], None] = print,
) -> BenchResult:
    """Time our path and the baseline over `files`, alternating round by round."""
    policy = policy or ImagePolicy()
    datas = [p.read_bytes() for p in files]
    ours = Timed("reelflow", [], threads=threads)
    ours.info["resampler"] = resampler_in_use(policy)
    first: list[CompressedImage | None] = []

    base: Timed | None = None
    base_note = ""
    node = ""
    if baseline in (Baseline.auto, Baseline.sharp):
        try:
            node = _ensure_sharp(sharp_dir, say)
            base = Timed("sharp", [])
        except SharpUnavailable as exc:
            if baseline is Baseline.sharp:
                raise
            base_note = f"sharp unavailable ({exc}); baseline is naive Pillow instead"
    if base is None:
        base = Timed("pillow-naive", [])
        base.info["pipeline"] = "open, exif_transpose, LANCZOS fit 1280x720, WebP q85 method 4"
        base_note = base_note or "naive Pillow baseline (asked for)"

    _ours_one(datas[0], policy)  # warm-up: plugin registration, first-call allocations
    if base.name == "pillow-naive":
        _pillow_naive(datas[0])

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        list_file = Path(tmp) / "files.txt"
        list_file.write_text("".join(f"{p.resolve()}\n" for p in files))
        sharp_out = Path(tmp) / "sharp"
        for round_no in range(rounds):
            before = (base.seconds, base.cpu_seconds, ours.seconds, ours.cpu_seconds)
            if base.name == "sharp":
                report = _sharp_round(
                    node, sharp_dir, list_file, sharp_out if not round_no else None
                )
                base.seconds += float(report["seconds"])
                base.cpu_seconds += float(report["cpu_seconds"])
                base.images += int(report["images"])
                if not round_no:
                    base.outputs = [
                        (sharp_out / f"{i}.webp").read_bytes()
                        if (sharp_out / f"{i}.webp").is_file()
                        else None
                        for i in range(len(files))
                    ]
                    base.info |= {
                        k: report.get(k) for k in ("sharp", "libvips", "libwebp", "failed")
                    }
                    base.info["pipeline"] = (
                        "sharp(buf).rotate().resize(1280, 720, inside, withoutEnlargement)"
                        ".webp(q85, effort 4), concurrency 1"
                    )
            else:
                with _clock(base, len(datas)):
                    outputs = [_pillow_naive(d) for d in datas]
                if not round_no:
                    base.outputs = outputs
            with _clock(ours, len(datas)):
                results = _ours_round(datas, threads, policy)
            if not round_no:
                first = results
            n = len(datas)
            base_s, base_cpu, ours_s, ours_cpu = (
                now - then
                for now, then in zip(
                    (base.seconds, base.cpu_seconds, ours.seconds, ours.cpu_seconds),
                    before,
                    strict=True,
                )
            )
            say(
                f"round {round_no + 1}/{rounds}: {base.name} {n / base_s:.2f} img/s "
                f"({n / base_cpu:.2f} per CPU-s), reelflow with {threads} thread(s) "
                f"{n / ours_s:.2f} img/s ({n / ours_cpu:.2f} per CPU-s)"
            )
    ours.outputs = [r.data if r is not None else None for r in first]

    vips: list[Timed] = []
    vips_note = ""
    if with_pyvips:
        vips, vips_note = _run_pyvips(datas, rounds)

    scores: dict[str, list[float]] = {}
    if with_ssim:
        say("computing SSIM against full-resolution LANCZOS references ...")
        scores = ssim_scores(
            datas,
            {"ours": ours.outputs, base.name: base.outputs} | {e.name: e.outputs for e in vips},
        )

    return BenchResult(
        files=list(files),
        input_bytes=sum(len(d) for d in datas),
        ours=ours,
        baseline=base,
        baseline_note=base_note or "same run",
        pyvips=vips,
        pyvips_note=vips_note,
        ssim=scores,
        profile_ms=profile_stages(datas, policy),
        kept_original=sum(1 for r in first if r is not None and not r.compressed),
        refused=sum(1 for r in first if r is None),
    )


def _run_pyvips(datas: Sequence[bytes], rounds: int) -> tuple[list[Timed], str]:
    """sharp's pipeline through pyvips, and a hybrid, if pyvips is installed (not a dependency).

    One libvips thread, no operation cache: per core, like sharp. Rounds alternate engines.
    """
    try:
        import pyvips  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except (ImportError, OSError) as exc:
        return [], f"not measured: pyvips not importable ({type(exc).__name__})"
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    version = ".".join(str(pyvips.version(i)) for i in range(3))
    engines = _pyvips_engines(pyvips)
    runs = [Timed(name, [], info={"libvips": version}) for name in engines]
    for compress in engines.values():
        compress(datas[0])  # warm-up
    for round_no in range(rounds):
        for run, compress in zip(runs, engines.values(), strict=True):
            with _clock(run, len(datas)):
                outputs = [compress(d) for d in datas]
            if not round_no:
                run.outputs = outputs
    return runs, ""


# --- the command --------------------------------------------------------------------------


def _describe(result: BenchResult, data: dict[str, Any]) -> list[str]:
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
    if base.get("images"):
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
    else:
        lines.append(f"baseline: none ({base['note']})")
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


def compress_command(
    directory: Annotated[Path, typer.Argument(help="Folder of JPEG/PNG images.")],
    threads: Annotated[int, typer.Option(min=1, help="Threads for our path.")] = 1,
    generate: Annotated[
        int,
        typer.Option(
            min=0,
            help="If DIR is missing or has no JPEG/PNG, first write N photo-like 1920x1080 "
            "JPEGs into it.",
        ),
    ] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="Passes over the images.")] = 1,
    baseline: Annotated[
        Baseline, typer.Option(help="auto: sharp if node can run it, else naive Pillow.")
    ] = Baseline.auto,
    sharp_dir: Annotated[
        Path, typer.Option(help="Where bench/sharp (package.json, compress.mjs) is.")
    ] = SHARP_DIR,
    with_ssim: Annotated[bool, typer.Option("--ssim/--no-ssim", help="Measure SSIM.")] = True,
    with_pyvips: Annotated[
        bool, typer.Option("--pyvips/--no-pyvips", help="Also time pyvips, if installed.")
    ] = True,
    resampler: Annotated[
        str,
        typer.Option(
            help="ImagePolicy.resampler for our path: auto (libvips if installed) or pillow."
        ),
    ] = ImagePolicy().resampler,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Time compress_image over DIR against sharp (or naive Pillow) in the same run."""
    if resampler not in ("auto", "pillow"):
        typer.echo("error: --resampler must be auto or pillow", err=True)
        raise typer.Exit(2)
    policy = ImagePolicy(resampler="pillow" if resampler == "pillow" else "auto")
    written = generate_images(directory, generate)
    if written:
        typer.echo(f"wrote {written} photo-like 1920x1080 JPEGs into {directory}")
    files = find_images(directory)
    if not files:
        typer.echo(
            f"error: no .jpg/.jpeg/.png in {directory} (use --generate N to make some)", err=True
        )
        raise typer.Exit(2)
    typer.echo(f"{len(files)} images in {directory}, {rounds} round(s), {threads} thread(s)")
    try:
        result = run(
            files,
            threads=threads,
            rounds=rounds,
            baseline=baseline,
            sharp_dir=sharp_dir,
            with_ssim=with_ssim,
            with_pyvips=with_pyvips,
            policy=policy,
            say=typer.echo,
        )
    except SharpUnavailable as exc:
        typer.echo(f"error: sharp baseline unavailable: {exc}", err=True)
        raise typer.Exit(2) from exc
    data = result.as_json()
    for line in _describe(result, data):
        typer.echo(line)
    if as_json:
        typer.echo(json.dumps(data, separators=(",", ":")))


def register(bench_app: typer.Typer) -> None:
    """`reelflow bench compress`."""
    bench_app.command("compress")(compress_command)
