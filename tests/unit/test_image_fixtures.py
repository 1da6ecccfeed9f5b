"""Every image a CDN can send ends in exactly one of three ways, each checked:

- renditions produced: WebP, fitting each rung's box, never upscaled, aspect ratio within 1%,
  upright (the marker is top-left), alpha iff the source has it, and the same picture (not
  flat, not garbage colours) as the source;
- the original kept, for a stated reason;
- a clear terminal error (UnsupportedMedia or TooLarge, saying why).

Anything else (an exception of another type, a check that fails, a refusal of a good image)
is an unexplained outcome, and the test prints the whole table.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from reelflow.core.errors import TooLarge, UnsupportedMedia
from reelflow.core.imaging import ImagePolicy, Rendering, render_ladder
from reelflow.core.ladder import DEFAULT_LADDER, Ladder, parse_ladder
from tests.support.image_fixtures import (
    CONTAINERS,
    MODES,
    Fixture,
    every_fixture,
    picture,
)

SPECS = Ladder(parse_ladder(DEFAULT_LADDER)).specs()
POLICY = ImagePolicy()


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA").convert("L"), dtype=np.float64)


def _check_rendition(fixture: Fixture, rendering: Rendering) -> list[str]:
    """What is wrong with a produced rendering ([] when everything holds)."""
    wrong: list[str] = []
    source_ratio = fixture.width / fixture.height
    expected = fixture.reference or picture((fixture.width, fixture.height), fixture.alpha)
    for one in rendering.renditions:
        if one.kept_original:
            if not one.note or one.data != fixture.data:
                wrong.append(f"{one.spec.name}: kept without a reason or changed")
            continue
        out = Image.open(io.BytesIO(one.data))
        name = one.spec.name
        if out.format != "WEBP" or out.size != (one.width, one.height):
            wrong.append(f"{name}: {out.format} {out.size}, said {one.width}x{one.height}")
            continue
        box = (one.spec.rung.max_width, one.spec.rung.max_height)
        if out.width > box[0] or out.height > box[1]:
            wrong.append(f"{name}: {out.size} does not fit {box}")
        if out.width > fixture.width or out.height > fixture.height:
            wrong.append(f"{name}: {out.size} upscaled from {fixture.width}x{fixture.height}")
        if abs(out.width / out.height / source_ratio - 1) > 0.01 and (
            abs(out.width - out.height * source_ratio) > 1
        ):
            wrong.append(f"{name}: aspect {out.width / out.height:.3f} != {source_ratio:.3f}")
        if fixture.animated and getattr(out, "n_frames", 1) != 1:
            wrong.append(f"{name}: still animated")
        has_alpha = out.mode in ("RGBA", "LA") and np.asarray(out.getchannel("A")).min() < 128
        if has_alpha != fixture.alpha:
            wrong.append(f"{name}: alpha {has_alpha}, source alpha {fixture.alpha}")
        luma = _luma(out)
        h, w = luma.shape
        marker = luma[h // 40 : h // 6, w // 40 : w // 6].mean()
        right = luma[h // 40 : h // 6, w - w // 6 : w - w // 40].mean()
        if not (marker > 215 and right < marker - 40):
            wrong.append(f"{name}: marker not top-left ({marker:.0f} vs {right:.0f}): orientation")
        # Compared at 1/8 scale (a dithered 1-bit source is the same picture there), over
        # the top-left quadrant, which is opaque in every fixture.
        coarse = (max(1, out.width // 8), max(1, out.height // 8))
        mine = _luma(out.resize(coarse, Image.Resampling.BOX))
        reference = _luma(expected.resize(coarse, Image.Resampling.BOX))
        opaque = slice(0, coarse[1] // 2), slice(0, coarse[0] // 2)
        difference = np.abs(mine[opaque] - reference[opaque]).mean()
        if difference > 22:
            wrong.append(f"{name}: picture differs from the source by {difference:.0f} levels")
        if luma.std() < 15:
            wrong.append(f"{name}: flat (std {luma.std():.1f})")
    return wrong


def _outcome(fixture: Fixture) -> tuple[str, str]:
    """(outcome, detail): 'renditions', 'original kept', 'refused', or 'UNEXPLAINED'."""
    try:
        rendering = render_ladder(fixture.data, SPECS, POLICY)
    except (UnsupportedMedia, TooLarge) as exc:
        if fixture.expect != "refused" or not str(exc):
            return "UNEXPLAINED", f"refused a good image: {type(exc).__name__}: {exc}"
        return "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return "UNEXPLAINED", f"{type(exc).__name__}: {exc}"
    if fixture.expect == "refused":
        return "UNEXPLAINED", "a broken or lying file was rendered"
    wrong = _check_rendition(fixture, rendering)
    if wrong:
        return "UNEXPLAINED", "; ".join(wrong)
    if rendering.placeholder is None:
        return "UNEXPLAINED", "no placeholder"
    kept = [r for r in rendering.renditions if r.kept_original]
    if kept:
        return "original kept", "; ".join(f"{r.spec.name}: {r.note}" for r in kept)
    sizes = ", ".join(f"{r.width}x{r.height}" for r in rendering.renditions)
    return "renditions", sizes


@pytest.fixture(scope="module")
def fixtures() -> list[Fixture]:
    return every_fixture()


def test_the_fixture_set_covers_every_mode_and_container(fixtures):
    names = {f.name for f in fixtures}
    for mode in MODES:
        assert any(name.endswith(f"/{mode}") for name in names), f"no container took {mode}"
    for container in CONTAINERS:
        assert f"{container}/truncated" in names
    must = {
        "PNG/RGB+tRNS",
        "PNG/L+tRNS",
        "PNG/I;16+tRNS",
        "PNG/I;16",
        "TIFF/I;16",
        "TIFF/I;16B",
        "TIFF/CMYK",
        "JPEG/CMYK",
        "PNG/P+transparency",
        "GIF/animated",
        "PNG/animated",
        "WEBP/animated",
        "TIFF/orientation-6",
        "PNG/orientation-8",
        "WEBP/orientation-5",
        "JPEG/orientation-7",
        "PNG/lying-header",
    }
    if "AVIF" in CONTAINERS:
        must |= {"AVIF/RGB", "AVIF/17000x17000"}
    assert must <= names, must - names


def test_every_fixture_ends_in_exactly_one_explained_outcome(fixtures):
    table = [(f.name, *_outcome(f)) for f in fixtures]
    unexplained = [row for row in table if row[1] == "UNEXPLAINED"]
    report = "\n".join(f"{name:28} {outcome:14} {detail}" for name, outcome, detail in table)
    assert not unexplained, f"{len(unexplained)} unexplained of {len(table)}:\n{report}"
    outcomes = {outcome for _, outcome, _ in table}
    assert outcomes == {"renditions", "original kept", "refused"}
