"""Frame stacking: what the network sees of an episode is its last
`replay.stack_frames` observations, concatenated on the first axis. Self-play,
replay, evaluation and play all stack through here, so they agree.

And how pixel observations are kept. An env whose spec says `pixels` (images,
boolean planes) gives float32 observations that are exact multiples of 1/255
in [0, 1]; self-play and replay keep them as uint8 (a quarter of the memory,
each frame stored once however many stacks use it) and turn them back into
exactly the same float32 values when the network is to see them. Only a pixel
env's episodes hold uint8 (every other observation is kept as float32), so a
uint8 array always means pixels."""

from __future__ import annotations

from collections import deque

import numpy as np


PIXEL_LEVELS = 255


def quantize_pixels(planes: np.ndarray) -> np.ndarray:
    """Float32 values in [0, 1] rounded to the nearest multiple of 1/255: what a
    pixel env gives, so that packing it loses nothing."""
    return unpack_pixels(pack_pixels(planes))


def pack_pixels(obs: np.ndarray) -> np.ndarray:
    """Pixel observations (multiples of 1/255 in [0, 1]) -> uint8 0..255."""
    arr = np.asarray(obs)
    if arr.dtype == np.uint8:
        return arr
    return np.rint(np.clip(arr, 0.0, 1.0) * PIXEL_LEVELS).astype(np.uint8)


def unpack_pixels(frames: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 k/255 (by division, correctly rounded: 255 -> 1.0 exactly)."""
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        return arr
    return arr.astype(np.float32) / np.float32(PIXEL_LEVELS)


def stack_frames(obs: np.ndarray | list[np.ndarray], t: int, frames: int) -> np.ndarray:
    """The last `frames` observations up to t, concatenated on the first axis
    (repeating the first observation before the episode's start)."""
    if frames == 1:
        return obs[t]
    idx = [max(0, t - i) for i in range(frames - 1, -1, -1)]
    return np.concatenate([obs[j] for j in idx], axis=0)


class FrameHistory:
    """One episode's recent observations, for an actor that sees them one at a
    time (evaluation, play); keeps only the frames the network needs."""

    def __init__(self, frames: int, first_obs: np.ndarray):
        self.frames = frames
        self.recent: deque[np.ndarray] = deque([first_obs], maxlen=frames)

    def push(self, obs: np.ndarray) -> None:
        self.recent.append(obs)

    def stacked(self) -> np.ndarray:
        # Before `frames` observations the window still starts at the episode's
        # first one, which stack_frames repeats, as for a stored episode.
        return stack_frames(list(self.recent), len(self.recent) - 1, self.frames)
