"""render_ladder: one decode for every rung, and smaller rungs resized from the rung above
only where that keeps quality (SSIM within 0.005 of resizing from the source)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from reelflow.bench.ssim import luma, ssim
from reelflow.core import imaging
from reelflow.core.imaging import ImagePolicy, render_ladder
from reelflow.core.ladder import DEFAULT_LADDER, Ladder, parse_ladder
from reelflow.devtools.media import photo_jpeg

SPECS = Ladder(parse_ladder(DEFAULT_LADDER)).specs()


def _scores(data: bytes) -> list[float]:
    """SSIM of each rung against a Lanczos resize of the decoded source to its size."""
    source = Image.open(io.BytesIO(data)).convert("RGB")
    rendering = render_ladder(data, SPECS, ImagePolicy(), placeholder=False)
    scores = []
    for one in rendering.renditions:
        reference = source.resize((one.width, one.height), Image.Resampling.LANCZOS)
        scores.append(ssim(luma(Image.open(io.BytesIO(one.data))), luma(reference)))
    return scores


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rungs_resized_from_the_rung_above_keep_the_quality_of_resizing_from_the_source(
    seed, monkeypatch
):
    data = photo_jpeg(1920, 1080, seed=seed)
    derived = _scores(data)
    monkeypatch.setattr(imaging, "DERIVE_FACTOR", float("inf"))  # every rung from the source
    from_source = _scores(data)
    assert derived[0] == from_source[0], "the largest rung is always made from the source"
    for rung, (a, b) in enumerate(zip(derived, from_source, strict=True)):
        assert abs(a - b) <= 0.005, f"rung {rung}: {a:.4f} derived vs {b:.4f} from the source"


def test_one_decode_serves_every_rung(monkeypatch):
    opened = []
    real_open = Image.open

    def counting_open(*args, **kwargs):
        opened.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(imaging.Image, "open", counting_open)
    rendering = render_ladder(photo_jpeg(1920, 1080, seed=4), SPECS, ImagePolicy())
    assert len(opened) == 1
    assert [(r.width, r.height) for r in rendering.renditions] == [
        (1280, 720),
        (640, 360),
        (320, 180),
    ]
    assert rendering.placeholder is not None
