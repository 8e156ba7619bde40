"""Frame stacking: what the network sees of an episode is its last
`replay.stack_frames` observations, concatenated on the first axis. Self-play,
replay, evaluation and play all stack through here, so they agree."""

from __future__ import annotations

from collections import deque

import numpy as np


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
