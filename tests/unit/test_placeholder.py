"""The placeholder: a ThumbHash that decodes back to the image's colours, aspect ratio and
alpha, and a dominant colour."""

import base64

import pytest
from PIL import Image, ImageFilter
from thumbhash import (  # type: ignore[import-untyped]
    thumb_hash_to_approximate_aspect_ratio,
    thumb_hash_to_average_rgba,
)

from reelflow.core.placeholder import placeholder_of


def _decoded(text: str) -> list[int]:
    return list(base64.b64decode(text + "=" * (-len(text) % 4)))


@pytest.mark.parametrize(
    ("size", "color"),
    [((1920, 1080), (200, 40, 40)), ((300, 600), (20, 120, 220)), ((1, 1), (0, 255, 0))],
)
def test_a_flat_image_gives_its_colour_and_aspect_ratio(size, color):
    found = placeholder_of(Image.new("RGB", size, color))
    assert found.color == "#{:02x}{:02x}{:02x}".format(*color)
    hashed = _decoded(found.thumbhash)
    assert 5 <= len(hashed) <= 25 and len(found.thumbhash) <= 64
    r, g, b, a = thumb_hash_to_average_rgba(hashed)
    assert [round(v * 255) for v in (r, g, b)] == pytest.approx(list(color), abs=6)
    assert a == pytest.approx(1.0)
    assert thumb_hash_to_approximate_aspect_ratio(hashed) == pytest.approx(
        size[0] / size[1], rel=0.25
    )


def test_transparency_is_kept_and_the_dominant_colour_ignores_clear_pixels():
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 128, 0, 255), (0, 0, 100, 100))  # left half opaque orange
    found = placeholder_of(image)
    assert found.color == "#ff8000", "transparent pixels carry no colour"
    *_, alpha = thumb_hash_to_average_rgba(_decoded(found.thumbhash))
    assert 0.3 < alpha < 0.7, "half the image is transparent"
    opaque = placeholder_of(image.convert("RGB"))
    assert thumb_hash_to_average_rgba(_decoded(opaque.thumbhash))[3] == pytest.approx(1.0)


def test_different_pictures_give_different_hashes_and_the_input_is_untouched():
    left = Image.linear_gradient("L").convert("RGB")
    right = left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert placeholder_of(left).thumbhash != placeholder_of(right.rotate(90)).thumbhash
    before = left.tobytes()
    placeholder_of(left)
    assert left.tobytes() == before and left.mode == "RGB"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_hash_is_the_reference_encoders_for_opaque_images(seed):
    """The `thumbhash` package (another port of the reference encoder; its alpha path fails)
    gives the same bytes for opaque images."""
    import random

    from thumbhash import rgba_to_thumb_hash

    from reelflow.core.placeholder import thumb_hash

    rng = random.Random(seed)
    width, height = rng.randint(20, 100), rng.randint(20, 100)
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            for _ in range(width * height)
        ]
    )
    image = image.resize((width, height)).filter(ImageFilter.GaussianBlur(3))
    rgba = image.convert("RGBA").tobytes()
    assert thumb_hash(width, height, rgba) == bytes(rgba_to_thumb_hash(width, height, list(rgba)))
