"""Image observations -> float32 planes (C, H, W) in [0, 1], optionally gray and smaller.

Which Box spaces count as images. Only uint8 spaces whose bounds are the full
0..255 range: a uint8 board whose cells hold 0, 1, 2 is a grid of counts, not
pixels, and dividing it by 255 would squash it, so it stays a plain Box. Among
those, by shape:

- (H, W): one gray channel;
- (H, W, C) with C in {1, 3, 4} (gray, RGB, RGBA): channel-last, the layout
  Gymnasium, Atari and pixel renderings use. It wins a tie, so (3, 3, 3) is
  read channel-last;
- (C, H, W) with C smaller than both H and W: already channel-first, e.g.
  (3, 64, 64) or frames stacked by an upstream wrapper, (4, 84, 84).

Anything else (another rank, (84, 84, 8)) is not treated as an image.

Boolean planes (a bool Box of rank 3, as MinAtar gives, (10, 10, C)) are
images too, with values 0 and 1: channel-first when the first axis is the
smallest, else channel-last (a tie, (10, 10, 10), reads channel-last).

What comes out is quantized to multiples of 1/255 (envs/frames.py), so that
self-play and replay can keep it as uint8 without changing a value: the
EnvSpec says `pixels`.

Downsampling is exact area averaging for any ratio (an integer ratio gives
the plain block mean), done one axis at a time from cumulative sums, so no
image library is needed. Not as a product with averaging matrices: that is
shorter, but small matrix products go through multi-threaded BLAS, which on a
busy machine made an Atari step 100x slower. Grayscale uses the ITU-R 601 luma
weights on R, G, B (alpha is dropped).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zeroplan.envs.frames import quantize_pixels

Layout = Literal["hw", "hwc", "chw"]
COLOR_CHANNELS = (1, 3, 4)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def image_layout(shape: tuple[int, ...], dtype: np.dtype, low: np.ndarray, high: np.ndarray) -> Layout | None:
    """The layout of an image Box space (see the module docstring), or None for anything else."""
    if np.dtype(dtype) == np.bool_:
        return _plane_layout(tuple(int(d) for d in shape))
    if np.dtype(dtype) != np.uint8 or not (np.all(np.asarray(low) == 0) and np.all(np.asarray(high) == 255)):
        return None
    shape = tuple(int(d) for d in shape)
    if len(shape) == 2 and min(shape) >= 1:
        return "hw"
    if len(shape) != 3 or min(shape) < 1:
        return None
    if shape[2] in COLOR_CHANNELS:
        return "hwc"
    if shape[0] < shape[1] and shape[0] < shape[2]:
        return "chw"
    return None


def _plane_layout(shape: tuple[int, ...]) -> Layout | None:
    """Boolean planes: rank 3 only (a rank-2 bool Box is more often a small board than a picture)."""
    if len(shape) != 3 or min(shape) < 1:
        return None
    if shape[0] < shape[1] and shape[0] < shape[2]:
        return "chw"
    return "hwc"


def is_image_spec(obs_shape: tuple[int, ...]) -> bool:
    """Whether processed observations of this shape are planes a conv net can take.

    After `ImageProcessor` every image is (C, H, W); the native board games are
    planes of the same kind. So the rule is the shape alone: three positive
    dimensions with some spatial extent (H, W >= 2). Callers choosing a network
    for an env without a preset use it to pick net.kind="resnet".
    """
    shape = tuple(int(d) for d in obs_shape)
    return len(shape) == 3 and shape[0] >= 1 and shape[1] >= 2 and shape[2] >= 2


class AreaAxis:
    """Area averaging of `source` pixels down to `target` along one axis.

    Output cell i averages the input span [i*s, (i+1)*s), s = source/target, each
    input pixel weighted by how much of it lies in the span. With C(t) the
    integral of the pixels up to position t (piecewise linear between the
    cumulative sums), cell i is (C((i+1)s) - C(is)) / s.
    """

    def __init__(self, source: int, target: int):
        edges = np.arange(target + 1, dtype=np.float64) * source / target
        self.index = np.minimum(np.floor(edges).astype(np.intp), source - 1)
        self.frac = edges - self.index
        self.scale = target / source

    def __call__(self, x: np.ndarray, axis: int) -> np.ndarray:
        x = np.moveaxis(x, axis, -1)
        sums = np.cumsum(x, axis=-1, dtype=np.float64)
        below = np.concatenate([np.zeros(x.shape[:-1] + (1,)), sums[..., :-1]], axis=-1)
        integral = below[..., self.index] + self.frac * x[..., self.index]
        return np.moveaxis(np.diff(integral, axis=-1) * self.scale, -1, axis)


class ImageProcessor:
    """Turns one raw image observation into float32 (C, H, W) in [0, 1].

    Built once per env from its observation space, so that sizes are checked
    before the first reset and `shape` can go into the EnvSpec.
    """

    def __init__(self, raw_shape: tuple[int, ...], layout: Layout, image_size: tuple[int, int] | None = None,
                 grayscale: bool = False, name: str = "environment"):
        self.raw_shape = tuple(int(d) for d in raw_shape)
        self.layout = layout
        channels, height, width = self._chw(self.raw_shape, layout)
        if grayscale and channels not in COLOR_CHANNELS:
            raise ValueError(f"{name}: env.grayscale needs 1, 3 (RGB) or 4 (RGBA) channels, the images have "
                             f"{channels} (shape {self.raw_shape}, read as {layout})")
        self.grayscale = grayscale and channels != 1
        out_channels = 1 if grayscale else channels
        self.rows: AreaAxis | None = None
        self.cols: AreaAxis | None = None
        if image_size is not None:
            h, w = (int(d) for d in image_size)
            if h < 1 or w < 1 or h > height or w > width:
                raise ValueError(f"{name}: env.image_size {(h, w)} must be between (1, 1) and the images' own "
                                 f"(height, width) {(height, width)}; downsampling only shrinks")
            self.rows = AreaAxis(height, h) if h != height else None
            self.cols = AreaAxis(width, w) if w != width else None
            height, width = h, w
        self.shape: tuple[int, int, int] = (out_channels, height, width)

    @staticmethod
    def _chw(shape: tuple[int, ...], layout: Layout) -> tuple[int, int, int]:
        if layout == "hw":
            return 1, shape[0], shape[1]
        if layout == "hwc":
            return shape[2], shape[0], shape[1]
        return shape[0], shape[1], shape[2]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        arr = np.asarray(obs)
        if arr.shape != self.raw_shape:
            raise ValueError(f"an image of shape {arr.shape}, expected {self.raw_shape}")
        planes = arr.astype(np.float32) * (np.float32(1.0) if arr.dtype == np.bool_ else np.float32(1.0 / 255.0))
        if self.layout == "hw":
            planes = planes[None]
        elif self.layout == "hwc":
            planes = planes.transpose(2, 0, 1)
        if self.grayscale:
            # a weighted sum, not tensordot: a BLAS call here would be multi-threaded (see above)
            planes = (LUMA[0] * planes[0] + LUMA[1] * planes[1] + LUMA[2] * planes[2])[None]
        if self.rows is not None:
            planes = self.rows(planes, axis=1)
        if self.cols is not None:
            planes = self.cols(planes, axis=2)
        return np.ascontiguousarray(quantize_pixels(planes), dtype=np.float32)
