"""SSIM (Wang, Bovik, Sheikh and Simoncelli, 2004) in numpy, for the compression benchmark.

The standard form: an 11x11 Gaussian window with sigma 1.5 (applied separably), K1 = 0.01,
K2 = 0.03, dynamic range L = 255, and the mean of the SSIM map over the positions where the
window lies wholly inside the image ('valid', no padding). This is what scikit-image's
`structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)` computes, apart from its border handling (it pads, then crops the same border).

Images are compared in luma: `luma()` takes Pillow's "L" conversion (ITU-R 601-2:
L = R*299/1000 + G*587/1000 + B*114/1000), with any alpha composited over black first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["gaussian_window", "luma", "ssim"]

_K1 = 0.01
_K2 = 0.03
_SIGMA = 1.5
_RADIUS = 5  # 11 taps: the window of the paper

FloatArray = NDArray[np.float64]


def gaussian_window(sigma: float = _SIGMA, radius: int = _RADIUS) -> FloatArray:
    """The 1-D Gaussian weights (sum 1) whose outer product is the 2-D SSIM window."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w: FloatArray = np.exp(-(x * x) / (2 * sigma * sigma))
    weights: FloatArray = w / w.sum()
    return weights


def _filter_valid(a: FloatArray, w: FloatArray) -> FloatArray:
    """Separable correlation with `w` along both axes, keeping only the 'valid' part."""
    n = len(w)
    rows, cols = a.shape
    across = w[0] * a[:, 0 : cols - n + 1]
    for k in range(1, n):
        across += w[k] * a[:, k : cols - n + 1 + k]
    out: FloatArray = w[0] * across[0 : rows - n + 1, :]
    for k in range(1, n):
        out += w[k] * across[k : rows - n + 1 + k, :]
    return out


def ssim(a: NDArray[np.generic], b: NDArray[np.generic], data_range: float = 255.0) -> float:
    """Mean SSIM of two same-shape 2-D arrays (grey levels 0..data_range); 1.0 when identical.

    Raises ValueError for different shapes, non-2-D input, or an image smaller than the window.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected 2-D grey images, got {a.ndim} dimensions")
    w = gaussian_window()
    if min(a.shape) < len(w):
        raise ValueError(f"images must be at least {len(w)}x{len(w)}, got {a.shape}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mu_x = _filter_valid(x, w)
    mu_y = _filter_valid(y, w)
    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    mu_xy = mu_x * mu_y
    var_x = _filter_valid(x * x, w) - mu_xx
    var_y = _filter_valid(y * y, w) - mu_yy
    cov = _filter_valid(x * y, w) - mu_xy
    num = (2 * mu_xy + c1) * (2 * cov + c2)
    den = (mu_xx + mu_yy + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))


def luma(im: Image.Image) -> NDArray[np.uint8]:
    """The image's luma as a uint8 array (alpha composited over black)."""
    if im.mode in ("RGBA", "LA", "PA", "P") and im.has_transparency_data:
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, rgba)
    return np.asarray(im.convert("L"), dtype=np.uint8)
