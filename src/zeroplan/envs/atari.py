"""Atari (ALE/ ids, through ale-py) with the standard protocol, as one stack.

Machado et al. (2018), as MuZero and EfficientZero evaluate:

- sticky actions: the emulator repeats the previous action with probability 0.25;
- the agent acts every 4th frame, the observation the pixel-wise max of the last
  two frames (sprites that flicker stay visible), rewards summed over the four;
- up to 30 no-ops at the start of each game, a random number of them;
- frames resized by area averaging to `env.image_size` (96x96 unless set),
  grayscale with `env.grayscale`;
- `env.episodic_life`, for training only: losing a life ends the self-play
  episode (the value targets see the loss), while the game itself goes on in
  the next episode; evaluation always plays whole games;
- no reward clipping: the value transform of the support (nets/support.py)
  takes rewards of any scale.

The first four are Gymnasium's `AtariPreprocessing` (which needs OpenCV for its
resizing, part of `zeroplan[atari]`); the life handling is `LifeLossEnds` below.
Frame stacking is replay's own (`replay.stack_frames`, each frame stored once
as uint8). With `env.action_planes`, as in the MuZero paper, each frame comes
with one more plane that holds the action that led to it (`ActionPlane`), so a
stack of frames is also a stack of the previous actions.
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import EnvConfig

STICKY_ACTIONS = 0.25
FRAME_SKIP = 4
NOOP_MAX = 30
SCREEN = (96, 96)
# ALE v5's own cap, 108,000 frames, in agent steps.
MAX_AGENT_STEPS = 108_000 // FRAME_SKIP


def _gymnasium():
    import gymnasium

    return gymnasium


class LifeLossEnds(_gymnasium().Wrapper):
    """Training only: a lost life ends the episode; the reset right after it
    carries on with the same game (one no-op) instead of starting a new one.
    Any other reset (the first, after a game over, or one asked for out of
    turn, e.g. when a resumed run rebuilds its episodes) is a real one.

    So the learner sees a life's end as a terminal state, yet self-play still
    reaches the later parts of each game. A resumed run cannot rebuild a game
    from a reset seed once a life was lost (self-play then starts that
    episode afresh, with a warning)."""

    def __init__(self, env):
        super().__init__(env)
        self.lives = 0
        self.life_lost = False  # the last step ended the episode on a lost life, and the game goes on

    def _lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._lives()
        self.life_lost = 0 < lives < self.lives and not (terminated or truncated)
        self.lives = lives
        return obs, reward, terminated or self.life_lost, truncated, info

    def reset(self, *, seed=None, options=None):
        obs = None
        if self.life_lost:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs = None
        if obs is None:
            obs, info = self.env.reset(seed=seed, options=options)
        self.life_lost = False
        self.lives = self._lives()
        return obs, info


class ActionPlane(_gymnasium().ObservationWrapper):
    """Frames as channel-first uint8 planes, with one more plane after them that
    holds the action which led to the frame: every cell (a + 1) * 255 // n for
    action a of n, 0 after a reset (no action yet). The level of each action is
    distinct for up to 255 actions and exact as a pixel (k/255)."""

    def __init__(self, env):
        super().__init__(env)
        self.levels = [(a + 1) * 255 // int(env.action_space.n) for a in range(int(env.action_space.n))]
        shape = env.observation_space.shape
        frames = (1,) + shape if len(shape) == 2 else (shape[2],) + shape[:2]
        self.observation_space = _gymnasium().spaces.Box(0, 255, (frames[0] + 1,) + frames[1:], np.uint8)
        self.last = None

    def step(self, action):
        self.last = int(action)
        return super().step(action)

    def reset(self, **kwargs):
        self.last = None
        return super().reset(**kwargs)

    def observation(self, obs):
        obs = np.asarray(obs, np.uint8)
        planes = obs[None] if obs.ndim == 2 else obs.transpose(2, 0, 1)
        level = 0 if self.last is None else self.levels[self.last]
        return np.concatenate([planes, np.full((1,) + planes.shape[1:], level, np.uint8)])


def atari_stack(env, config: EnvConfig, training: bool):
    """The protocol's wrappers around an ALE env made with frameskip=1 and sticky actions."""
    gym = _gymnasium()
    height, width = config.image_size or SCREEN
    try:
        env = gym.wrappers.AtariPreprocessing(env, noop_max=NOOP_MAX, frame_skip=FRAME_SKIP,
                                              screen_size=(width, height), grayscale_obs=config.grayscale,
                                              terminal_on_life_loss=False)
    except gym.error.DependencyNotInstalled:
        from zeroplan.envs.gym import EnvError

        raise EnvError(f"{config.id}: the Atari protocol resizes frames with OpenCV: "
                       "pip install 'zeroplan[atari]'") from None
    if training and config.episodic_life:
        env = LifeLossEnds(env)
    if config.action_planes:
        env = ActionPlane(env)
    return gym.wrappers.TimeLimit(env, config.max_episode_steps or MAX_AGENT_STEPS)


def make_atari(config: EnvConfig, training: bool):
    """`config.id` (ALE/...) as a GymEnv with the protocol; `training` for self-play's copies."""
    from zeroplan.envs.gym import GymEnv, make_gym

    kwargs = {"frameskip": 1, "repeat_action_probability": STICKY_ACTIONS, **config.kwargs}
    env = atari_stack(make_gym(config.id, None, kwargs), config, training)
    return GymEnv(env, name=config.id, action_repeat=config.action_repeat)
