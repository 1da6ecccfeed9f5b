"""Sample media for the demo, the tests and the benchmarks: made on the spot, seeded, no downloads.

Images come from Pillow alone; videos from the ffmpeg binary that imageio-ffmpeg ships.
Every generator is deterministic for a given set of arguments.
"""

from __future__ import annotations

import colorsys
import functools
import io
import random
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

__all__ = [
    "MARKER_COLOURS",
    "full_video",
    "jpeg_with_orientation",
    "photo_jpeg",
    "png_image",
    "preview_mp4",
    "preview_webm",
    "quadrant_marker",
]

# Quadrant colours of `quadrant_marker`, clockwise from the top left.
MARKER_COLOURS = ((220, 30, 30), (30, 200, 30), (240, 220, 20), (30, 30, 220))

# Inverse of the EXIF orientation transforms: applied to an upright picture, they give the
# stored pixels that a viewer honouring the tag turns back into that upright picture.
_STORE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # viewer turns it 90 degrees clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,  # viewer turns it 90 degrees anticlockwise
}


def _colour(rng: random.Random, hue: float, spread: float) -> tuple[int, int, int]:
    h = (hue + rng.uniform(-spread, spread)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(0.25, 0.8), rng.uniform(0.2, 0.95))
    return int(r * 255), int(g * 255), int(b * 255)


def _noise(rng: random.Random, size: tuple[int, int], sigma: float) -> Image.Image:
    """Seeded noise around 128 with standard deviation `sigma` (Image.effect_noise is unseeded)."""
    raw = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    scale = sigma / 73.9  # the standard deviation of uniform bytes
    return raw.point([max(0, min(255, round(128 + (v - 127.5) * scale))) for v in range(256)])


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB picture: soft lighting, out-of-focus shapes, sharp subjects, texture, grain.

    Tuned so a 1920x1080 JPEG at q90 is about 330-370 KB and shrinks by about 70% as a
    1280x720 WebP at q85, like real episode stills.
    """
    rng = random.Random(seed)
    hue = rng.random()
    sw, sh = max(2, width // 2), max(2, height // 2)  # shapes are drawn at half size

    grid = Image.new("RGB", (5, 4))
    grid.putdata([_colour(rng, hue, 0.08) for _ in range(20)])
    layer = grid.resize((sw, sh), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(15, 25)):  # background, then blurred as if out of focus
        x, y = rng.randrange(sw), rng.randrange(sh)
        r = rng.randint(max(1, sw // 30), max(2, sw // 5))
        top = y - int(r * rng.uniform(0.4, 1.2))
        draw.ellipse((x - r, top, x + r, y + r), fill=_colour(rng, hue, 0.3))
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(6, 12)))

    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(6, 12)):  # in-focus subjects
        x, y = rng.randrange(sw), rng.randrange(sh)
        r = rng.randint(max(1, sw // 25), max(2, sw // 8))
        corners = rng.randint(3, 7)
        points = [(x + rng.randint(-r, r), y + rng.randint(-r, r)) for _ in range(corners)]
        draw.polygon(points, fill=_colour(rng, hue + 0.5, 0.2))
    for _ in range(250):  # thin strokes: branches, grass, cables
        x, y = rng.randrange(sw), rng.randrange(sh)
        dx, dy = rng.randint(-sw // 12, sw // 12), rng.randint(-sh // 6, 0)
        draw.line((x, y, x + dx, y + dy), fill=_colour(rng, hue, 0.15), width=rng.randint(1, 3))
    layer = layer.filter(ImageFilter.GaussianBlur(0.8))
    img = layer.resize((width, height), Image.Resampling.BICUBIC)

    # Surface texture (coarse noise, smoothed) and sensor grain, laid over as luminance.
    coarse = _noise(rng, (max(1, width // 4), max(1, height // 4)), 10.0)
    coarse = coarse.resize((width, height), Image.Resampling.BICUBIC)
    luma = ImageChops.add(coarse, _noise(rng, (width, height), 1.0), scale=1.0, offset=-128)
    return ImageChops.overlay(img, Image.merge("RGB", (luma, luma, luma)))


def photo_jpeg(width: int = 1920, height: int = 1080, seed: int = 0, quality: int = 90) -> bytes:
    """A photo-like JPEG (about 330-370 KB at 1920x1080, q90); other seeds, other pictures."""
    out = io.BytesIO()
    _photo(width, height, seed).save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_image(
    width: int = 640, height: int = 360, seed: int = 0, mode: str = "RGB", photo: bool = False
) -> bytes:
    """A PNG in `mode` (RGB, RGBA, P, L, LA, ...): flat shapes on a gradient, or photo-like.

    Flat content compresses well as PNG (WebP may not beat it); `photo=True` makes the opposite.
    """
    if photo:
        img = _photo(width, height, seed)
    else:
        rng = random.Random(seed)
        hue = rng.random()
        img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        img = ImageChops.multiply(img, Image.new("RGB", (width, height), _colour(rng, hue, 0.1)))
        draw = ImageDraw.Draw(img)
        for _ in range(8):
            x, y = rng.randrange(width), rng.randrange(height)
            r = rng.randint(1, max(2, min(width, height) // 4))
            draw.rectangle((x - r, y - r, x + r, y + r), fill=_colour(rng, hue, 0.4))
    if "A" in mode:
        alpha = Image.linear_gradient("L").rotate(90).resize((width, height))
        img = img.convert("RGBA")
        img.putalpha(alpha)
    out = io.BytesIO()
    img.convert(mode).save(out, "PNG")
    return out.getvalue()


def quadrant_marker(width: int, height: int) -> Image.Image:
    """An upright test card: red top left, green top right, yellow bottom right, blue bottom left.

    Colours in `MARKER_COLOURS`, clockwise from the top left.
    """
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    half_w, half_h = width // 2, height // 2
    boxes = (
        (0, 0, half_w, half_h),
        (half_w, 0, width, half_h),
        (half_w, half_h, width, height),
        (0, half_h, half_w, height),
    )
    for box, colour in zip(boxes, MARKER_COLOURS, strict=True):
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    return img


def jpeg_with_orientation(
    orientation: int, width: int = 200, height: int = 100, quality: int = 95
) -> bytes:
    """A JPEG of `width` x `height` stored pixels carrying EXIF `orientation` (1-8).

    The pixels are a `quadrant_marker` stored so that a viewer that honours the tag shows it
    upright (for orientations 5-8 the upright picture is `height` x `width`).
    """
    transform = _STORE_FOR_ORIENTATION[orientation]
    upright = (height, width) if orientation >= 5 else (width, height)
    stored = quadrant_marker(*upright)
    if transform is not None:
        stored = stored.transpose(transform)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _encode_video(
    suffix: str,
    codec_args: list[str],
    seconds: float,
    width: int,
    height: int,
    seed: int,
    target_bytes: int | None,
) -> bytes:
    """Render testsrc2 with seeded grain (so it does not compress to nothing) and encode it."""
    source = f"testsrc2=size={width}x{height}:rate=24:duration={seconds}"
    # Seed the grain and the hue so different seeds give different bytes and pictures.
    filters = f"hue=h={seed * 47 % 360},noise=alls=12:allf=t:all_seed={seed + 1},format=yuv420p"
    rate: list[str] = []
    if target_bytes is not None:
        bits = max(8_000, int(target_bytes * 8 / seconds))
        rate = [
            "-b:v",
            str(bits),
            "-minrate",
            str(bits),
            "-maxrate",
            str(bits),
            "-bufsize",
            str(bits),
        ]
    with tempfile.TemporaryDirectory(prefix="reelflow-sample-") as tmp:
        path = Path(tmp) / f"preview{suffix}"
        cmd = [
            _ffmpeg(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-vf",
            filters,
            "-an",
            *codec_args,
            *rate,
            str(path),
        ]
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        return path.read_bytes()


@functools.lru_cache(maxsize=32)
def preview_webm(
    seconds: float = 2.0,
    width: int = 640,
    height: int = 360,
    seed: int = 0,
    target_bytes: int | None = None,
) -> bytes:
    """A real VP8 WebM preview clip (no audio); near `target_bytes` long when given.

    Cached per arguments in this process.
    """
    codec = ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-threads", "2"]
    if target_bytes is None:
        codec += ["-crf", "30", "-b:v", "1M"]
    return _encode_video(".webm", codec, seconds, width, height, seed, target_bytes)


@functools.lru_cache(maxsize=32)
def preview_mp4(
    seconds: float = 2.0,
    width: int = 640,
    height: int = 360,
    seed: int = 0,
    target_bytes: int | None = None,
) -> bytes:
    """A real H.264 MP4 preview clip (no audio, faststart); near `target_bytes` when given.

    Cached per arguments in this process.
    """
    codec = ["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"]
    if target_bytes is None:
        codec += ["-crf", "28"]
    return _encode_video(".mp4", codec, seconds, width, height, seed, target_bytes)


def full_video(
    path: str | Path,
    seconds: float = 90.0,
    width: int = 1280,
    height: int = 720,
    *,
    black_intro: float = 4.0,
    audio: bool = True,
    rotation: int = 0,
    seed: int = 0,
    container: str = "mp4",
) -> Path:
    """A full-length episode as a streaming app has it: a black intro, then scenes that change
    (test patterns, colour bars, gradients), with a sine audio track; H.264 (or VP9 in WebM).

    Written to `path` (made once: an existing file is kept). `rotation` sets the display
    rotation tag (the pixels stay as they are, as phones record)."""
    out = Path(path)
    if out.exists() and out.stat().st_size > 0:
        return out
    size = f"{width}x{height}"
    rest = max(0.1, seconds - black_intro)
    sources = [
        f"testsrc2=s={size}:r=24:d={{d}},hue=h={seed * 47 % 360}",
        f"smptehdbars=s={size}:r=24:d={{d}}",
        f"testsrc=s={size}:r=24:d={{d}}",
        f"rgbtestsrc=s={size}:r=24:d={{d}},hue=h={(seed * 47 + 120) % 360}",
    ]
    turn = seed % len(sources)
    sources = sources[turn:] + sources[:turn]  # other seeds, other scene order
    scene = rest / len(sources)
    pix = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"  # 4:2:0 needs even
    parts = []
    labels = []
    if black_intro > 0:
        parts.append(f"color=c=black:s={size}:r=24:d={black_intro}[b]")
        labels.append("[b]")
    for index, source in enumerate(sources):
        parts.append(source.format(d=round(scene, 3)) + f",setsar=1[s{index}]")
        labels.append(f"[s{index}]")
    graph = ";".join(parts) + f";{''.join(labels)}concat=n={len(labels)}:v=1:a=0,format={pix}[v]"
    if audio:
        graph += f";sine=f={220 + seed * 10}:d={seconds}[a]"
    if container == "webm":
        codec = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-crf", "40"]
        codec += ["-b:v", "0", "-c:a", "libopus"] if audio else []
    else:
        codec = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-g", "96"]
        codec += ["-c:a", "aac", "-b:a", "48k"] if audio else []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    cmd = [
        _ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        *(["-map", "[a]"] if audio else []),
        *codec,
        "-threads",
        "2",
        "-f",
        container,
        str(tmp),
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    if rotation:
        rotated = out.with_name(out.name + ".rot")
        cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        cmd += ["-display_rotation:v:0", str(rotation), "-i", str(tmp), "-c", "copy"]
        cmd += ["-f", container, str(rotated)]
        done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        tmp.unlink(missing_ok=True)
        if done.returncode != 0:
            rotated.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        tmp = rotated
    tmp.replace(out)
    return out
