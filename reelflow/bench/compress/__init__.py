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

The modules, by what they hold:

    command   the typer command and `register` (imports the rest only when it runs)
    images    finding the JPEG/PNG inputs, generating photo-like ones
    timing    `Timed` (one engine's outputs and summed wall/CPU time) and the clock
    engines   the compressors compared: ours, naive Pillow, the pyvips variants
    sharp     the sharp/Node baseline (npm install, one node run per round), `Baseline`
    quality   SSIM of every output against a full-resolution LANCZOS reference
    stages    the per-stage CPU profile of our path (decode, resize, encode)
    runner    `run`: the rounds, alternating baseline and ours, then pyvips, SSIM, profile
    report    `BenchResult`: the JSON figures and the human lines
"""

from __future__ import annotations

from reelflow.bench.compress.command import register

__all__ = ["register"]
