"""`run`: time our path and the baseline round by round, then pyvips, SSIM and the profile."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from reelflow.bench.compress.engines import ours_one, ours_round, pillow_naive, pyvips_engines
from reelflow.bench.compress.quality import ssim_scores
from reelflow.bench.compress.report import BenchResult
from reelflow.bench.compress.sharp import SHARP_DIR, Baseline, ensure_sharp, sharp_round
from reelflow.bench.compress.stages import profile_stages
from reelflow.bench.compress.timing import Timed, clock
from reelflow.core.errors import ToolUnavailable
from reelflow.core.imaging import CompressedImage, ImagePolicy, resampler_in_use

__all__ = ["run"]


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
    """Time our path and the baseline over `files`, alternating round by round.

    Raises ToolUnavailable when sharp cannot run and `baseline` is sharp, or when it fails
    during a round.
    """
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
            node = ensure_sharp(sharp_dir, say)
            base = Timed("sharp", [])
        except ToolUnavailable as exc:
            if baseline is Baseline.sharp:
                raise
            base_note = f"sharp unavailable ({exc}); baseline is naive Pillow instead"
    if base is None:
        base = Timed("pillow-naive", [])
        base.info["pipeline"] = "open, exif_transpose, LANCZOS fit 1280x720, WebP q85 method 4"
        base_note = base_note or "naive Pillow baseline (asked for)"

    ours_one(datas[0], policy)  # warm-up: plugin registration, first-call allocations
    if base.name == "pillow-naive":
        pillow_naive(datas[0])

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        list_file = Path(tmp) / "files.txt"
        list_file.write_text("".join(f"{p.resolve()}\n" for p in files))
        sharp_out = Path(tmp) / "sharp"
        for round_no in range(rounds):
            before = (base.seconds, base.cpu_seconds, ours.seconds, ours.cpu_seconds)
            if base.name == "sharp":
                report = sharp_round(
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
                with clock(base, len(datas)):
                    outputs = [pillow_naive(d) for d in datas]
                if not round_no:
                    base.outputs = outputs
            with clock(ours, len(datas)):
                results = ours_round(datas, threads, policy)
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
    engines = pyvips_engines(pyvips)
    timed = [Timed(name, [], info={"libvips": version}) for name in engines]
    for compress in engines.values():
        compress(datas[0])  # warm-up
    for round_no in range(rounds):
        for engine, compress in zip(timed, engines.values(), strict=True):
            with clock(engine, len(datas)):
                outputs = [compress(d) for d in datas]
            if not round_no:
                engine.outputs = outputs
    return timed, ""
