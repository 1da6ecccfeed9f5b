"""`reelflow bench compress`: the SSIM it reports, and its JSON on a tiny folder (no timing)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from numpy.typing import NDArray
from PIL import Image
from typer.testing import CliRunner

from reelflow.bench.compress import register
from reelflow.bench.compress.images import find_images, generate_images
from reelflow.bench.ssim import gaussian_window, luma, ssim
from reelflow.devtools import media

H, W = 48, 64
C1 = (0.01 * 255) ** 2


def rand_bytes(seed: int) -> NDArray[np.uint8]:
    """Uniform grey levels from Python's own seeded generator (stable across versions)."""
    return np.frombuffer(random.Random(seed).randbytes(H * W), np.uint8).reshape(H, W)


def clip(a: NDArray[np.int_]) -> NDArray[np.uint8]:
    return np.clip(a, 0, 255).astype(np.uint8)


BASE = rand_bytes(1)
NOISE = rand_bytes(2).astype(int) // 8 - 16  # uniform -16..15
ROWS, COLS = np.indices((H, W))
RAMP = (COLS * 4).astype(np.uint8)
SMOOTH = ((ROWS + COLS) * 2 % 256).astype(np.uint8)


# --- SSIM ---------------------------------------------------------------------------------


def test_the_window_is_the_papers_11_tap_gaussian() -> None:
    w = gaussian_window()
    assert len(w) == 11
    assert w.sum() == pytest.approx(1.0)
    assert w[5] == w.max() and np.allclose(w, w[::-1])
    assert w[4] / w[5] == pytest.approx(np.exp(-1 / (2 * 1.5**2)))


@pytest.mark.parametrize("image", [BASE, RAMP, SMOOTH, np.full((H, W), 77, np.uint8)])
def test_identical_images_score_exactly_one(image: NDArray[np.uint8]) -> None:
    assert ssim(image, image) == 1.0


def test_more_noise_scores_lower() -> None:
    scores = [ssim(SMOOTH, clip(SMOOTH.astype(int) + NOISE * k // 4)) for k in range(5)]
    assert scores[0] == 1.0
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert scores[-1] < 0.6


# Expected values: closed forms for flat images (only the luminance term is left), the rest
# computed by scikit-image 0.26 structural_similarity(gaussian_weights=True, sigma=1.5,
# use_sample_covariance=False, data_range=255), an independent implementation.
KNOWN = [
    (
        "flat 100 vs flat 110",
        np.full((H, W), 100, np.uint8),
        np.full((H, W), 110, np.uint8),
        (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1),
    ),
    ("black vs white", np.zeros((H, W), np.uint8), np.full((H, W), 255, np.uint8), 0.000100),
    ("random vs inverted", BASE, 255 - BASE, -0.958824),
    ("random vs shifted one pixel", BASE, np.roll(BASE, 1, axis=1), -0.021905),
    ("ramp vs ramp + 8", RAMP, clip(RAMP.astype(int) + 8), 0.993988),
    ("smooth vs smooth + noise", SMOOTH, clip(SMOOTH.astype(int) + NOISE), 0.537678),
    ("smooth vs smooth + half noise", SMOOTH, clip(SMOOTH.astype(int) + NOISE // 2), 0.822454),
    ("random vs half contrast", BASE, (BASE // 2 + 64).astype(np.uint8), 0.800067),
]


@pytest.mark.parametrize(("a", "b", "expected"), [k[1:] for k in KNOWN], ids=[k[0] for k in KNOWN])
def test_known_cases(a: NDArray[np.uint8], b: NDArray[np.uint8], expected: float) -> None:
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)
    assert ssim(b, a) == pytest.approx(ssim(a, b), abs=1e-12)  # symmetric


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((20, 20)), np.zeros((20, 21)), "shapes differ"),
        (np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), "2-D"),
        (np.zeros((10, 40)), np.zeros((10, 40)), "at least 11x11"),
    ],
)
def test_ssim_refuses_what_it_cannot_compare(
    a: NDArray[np.float64], b: NDArray[np.float64], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ssim(a, b)


def test_luma_is_pillows_l_and_composites_alpha_over_black() -> None:
    rgb = Image.new("RGB", (4, 4), (200, 100, 50))
    assert luma(rgb)[0, 0] == rgb.convert("L").getpixel((0, 0))
    clear = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    assert luma(clear).max() == 0


# --- the command on a tiny folder ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small images: two photo-like JPEGs and a photo-like PNG, plus a file to ignore."""
    folder = tmp_path_factory.mktemp("imgs")
    (folder / "a.jpg").write_bytes(media.photo_jpeg(320, 180, seed=1))
    (folder / "b.JPEG").write_bytes(media.photo_jpeg(200, 300, seed=2))
    (folder / "c.png").write_bytes(media.png_image(160, 90, seed=3, photo=True))
    (folder / "notes.txt").write_text("not an image")
    return folder


def invoke(*args: str) -> tuple[list[str], dict[str, Any]]:
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # keeps `compress` a sub-command
    result = CliRunner().invoke(app, ["compress", *args])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    return lines, json.loads(lines[-1])


FIELDS = {
    "images": int,
    "seconds": float,
    "images_per_second": float,
    "input_bytes": int,
    "output_bytes": int,
    "threads": int,
    "ssim_mean": float,
}


@pytest.mark.parametrize("threads", [1, 2])
def test_json_line_has_the_fields_with_a_pillow_baseline(tiny_dir: Path, threads: int) -> None:
    lines, data = invoke(
        str(tiny_dir), "--threads", str(threads), "--baseline", "pillow", "--no-pyvips", "--json"
    )

    assert len(lines) > 3  # human lines first, the JSON line last
    for name, kind in FIELDS.items():
        assert isinstance(data[name], kind), (name, data[name])
    files = sorted(p for p in tiny_dir.iterdir() if p.suffix != ".txt")
    assert (data["images"], data["files"], data["threads"]) == (3, 3, threads)
    assert data["input_bytes"] == sum(p.stat().st_size for p in files)
    assert 0 < data["output_bytes"] < data["input_bytes"]
    assert 0.8 < data["ssim_mean"] <= 1.0
    assert data["kept_original"] == data["refused"] == 0
    assert set(data["profile_ms"]) == {"decode", "resize", "encode", "other", "total"}

    baseline = data["baseline"]
    assert isinstance(baseline, dict)
    assert baseline["name"] == "pillow-naive" and baseline["threads"] == 1
    assert baseline["images"] == 3 and baseline["output_bytes"] > 0
    assert 0.8 < baseline["ssim_mean"] <= 1.0
    ratios = data["ratios"]
    assert isinstance(ratios, dict)
    assert set(ratios) == {
        "images_per_cpu_second",
        "images_per_second",
        "images_per_second_per_thread",
        "output_bytes",
        "ssim_mean",
        "ssim_delta",
    }
    assert ratios["ssim_delta"] == pytest.approx(
        data["ssim_mean"] - baseline["ssim_mean"],
        abs=2e-5,
    )
    assert ratios["output_bytes"] == pytest.approx(
        data["output_bytes"] / baseline["output_bytes"],
        abs=1e-3,
    )
    assert any("baseline pillow-naive" in line for line in lines)


def test_rounds_multiply_images_but_not_bytes(tiny_dir: Path) -> None:
    _, once = invoke(str(tiny_dir), "--baseline", "pillow", "--no-pyvips", "--no-ssim", "--json")
    _, twice = invoke(
        str(tiny_dir), "--baseline", "pillow", "--no-pyvips", "--no-ssim", "--rounds", "2", "--json"
    )
    assert (once["images"], twice["images"], twice["rounds"]) == (3, 6, 2)
    assert once["output_bytes"] == twice["output_bytes"]
    assert once["ssim_mean"] is None


def test_resampler_pillow_is_reported(tiny_dir: Path) -> None:
    _, data = invoke(
        str(tiny_dir), "--baseline", "pillow", "--no-pyvips", "--resampler", "pillow", "--json"
    )
    assert data["resampler"] == "pillow"


def test_ssim_of_our_outputs_is_against_an_upright_reference(tmp_path: Path) -> None:
    """An EXIF-rotated JPEG: the reference is turned upright too, so SSIM stays high."""
    upright = Image.open(io.BytesIO(media.photo_jpeg(180, 320, seed=4)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned anticlockwise; viewers turn it clockwise
    stored = upright.rotate(90, expand=True)
    stored.save(tmp_path / "turned.jpg", "JPEG", quality=95, exif=exif.tobytes())

    _, data = invoke(str(tmp_path), "--baseline", "pillow", "--no-pyvips", "--json")

    assert data["ssim_mean"] > 0.9


def test_generate_fills_an_empty_folder_only(tmp_path: Path) -> None:
    target = tmp_path / "new"
    assert generate_images(target, 2, width=64, height=36) == 2
    assert [p.name for p in find_images(target)] == ["photo-000.jpg", "photo-001.jpg"]
    assert Image.open(target / "photo-001.jpg").size == (64, 36)
    assert generate_images(target, 5, width=64, height=36) == 0  # has images: left alone
    assert len(find_images(target)) == 2


def test_an_empty_folder_without_generate_is_an_error(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)
    result = CliRunner().invoke(app, ["compress", str(tmp_path), "--json"])
    assert result.exit_code == 2
    assert "--generate" in result.output


def test_sharp_missing_falls_back_to_pillow_and_says_so(tiny_dir: Path, tmp_path: Path) -> None:
    lines, data = invoke(
        str(tiny_dir), "--sharp-dir", str(tmp_path / "nowhere"), "--no-pyvips", "--json"
    )
    baseline = data["baseline"]
    assert isinstance(baseline, dict)
    assert baseline["name"] == "pillow-naive"
    assert "sharp unavailable" in baseline["note"]
    assert any("sharp unavailable" in line for line in lines)
