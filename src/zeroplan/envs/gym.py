"""Any Gymnasium environment with a Discrete or a bounded Box action space -> the turn-based contract.

Box actions (Sampled MuZero) are taken as vectors in [-1, 1]^D, D the number of
elements of the space, and scaled to its bounds, which must be finite.

Single-player: `to_play()` is always 0. Observations are float32 arrays: vector
Box observations as they are, Discrete ones one-hot, structured ones (Tuple,
Dict, MultiDiscrete, MultiBinary) flattened (envs/flatten.py), image Box observations as
(C, H, W) planes in [0, 1], optionally gray and downsampled (envs/images.py).
A legal-action mask in `info["action_mask"]` is honoured. We reset each environment ourselves when its
episode ends, so Gymnasium's next-step autoreset never produces a bogus
transition.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

import numpy as np

from zeroplan.envs.copies import independent_generator
from zeroplan.envs.flatten import flat_encoder
from zeroplan.envs.images import ImageProcessor, image_layout
from zeroplan.envs.spec import EnvSpec


class EnvError(ValueError):
    """An environment that cannot be used, or that misbehaved; the message says which and where."""


def _gym():
    import gymnasium

    return gymnasium


def _register_atari(env_id: str) -> None:
    """ALE ids exist only once ale_py is imported; importing it for every env would
    make Atari's 10 MB library a cost of CartPole."""
    try:
        import ale_py
    except ImportError:
        raise EnvError(f"{env_id} is an Atari game, which needs ale-py: pip install 'zeroplan[atari]'") from None
    _gym().register_envs(ale_py)


def _register_minatar(env_id: str) -> None:
    """MinAtar's ids, like ALE's, exist only once its package registers them
    (Gymnasium 1.x no longer loads plugins by itself)."""
    try:
        import minatar.gym
    except ImportError:
        raise EnvError(f"{env_id} is a MinAtar game, which needs minatar: pip install 'zeroplan[minatar]'") from None
    if env_id not in _gym().registry:
        minatar.gym.register_envs()


def make_gym(env_id: str, max_episode_steps: int | None = None, kwargs: dict[str, Any] | None = None):
    gym = _gym()
    if env_id.startswith("ALE/"):
        _register_atari(env_id)
    if env_id.startswith("MinAtar/"):
        _register_minatar(env_id)
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EnvError(f"environment id {env_id!r} is not registered with Gymnasium{hint}")
    return gym.make(env_id, max_episode_steps=max_episode_steps, **(kwargs or {}))


def _box_bounds(space, name: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], np.dtype]:
    """(low, high) flattened to float64, the shape and dtype of a Box action space whose
    bounds are finite and ordered; an EnvError otherwise."""
    if np.dtype(space.dtype).kind in "iub":
        raise EnvError(f"{name}: the Box action space {space} holds integers; MuZero takes them as a Discrete or "
                       "MultiDiscrete space, or a float Box")
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    if low.size == 0:
        raise EnvError(f"{name}: the Box action space {space} has no elements")
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise EnvError(f"{name}: the Box action space {space} has infinite bounds; MuZero's sampled search needs "
                       "finite ones (wrap the env to rescale its actions, e.g. gymnasium.wrappers.RescaleAction)")
    if not (high > low).all():
        raise EnvError(f"{name}: the Box action space {space} has a dimension whose high is not above its low")
    return low, high, tuple(space.shape), np.dtype(space.dtype)


def time_limit(env: GymEnv) -> int | None:
    """The step limit Gymnasium's TimeLimit puts on the wrapped env's episodes, or None."""
    inner = env.env
    while inner is not None:
        if isinstance(inner, _gym().wrappers.TimeLimit):
            return int(inner._max_episode_steps)
        inner = getattr(inner, "env", None)
    return None


# What Gymnasium's renderers keep on the env (pygame surfaces and clocks): never copied.
_RENDER_STATE = ("screen", "clock", "window", "window_surface", "viewer")


class GymEnv:
    """`image_size` (height, width) and `grayscale` apply to image observations
    only (env.image_size / env.grayscale in the config); asking for them on any
    other observation is an error rather than a silent no-op.

    `action_repeat` k > 1 makes one `step` play the action k times in the
    wrapped env (rewards summed, the last observation kept, stopping early when
    the episode ends or the action stops being legal): the agent decides every
    k frames, which shortens the horizon it has to plan and learn over."""

    def __init__(self, env, name: str = "", image_size: tuple[int, int] | None = None, grayscale: bool = False,
                 action_repeat: int = 1):
        gym = _gym()
        self.env = env
        if int(action_repeat) < 1:
            raise EnvError(f"{name or 'environment'}: action_repeat must be >= 1, got {action_repeat}")
        self.action_repeat = int(action_repeat)
        act = env.action_space
        self._box = None
        if isinstance(act, gym.spaces.Box):
            self._box = _box_bounds(act, name or "environment")
            self._start = 0
        elif isinstance(act, gym.spaces.Discrete):
            self._start = int(act.start)
        else:
            raise EnvError(f"{name or 'environment'}: MuZero needs a Discrete or a bounded Box action space, "
                           f"got {act}")
        obs_space = env.observation_space
        self._image: ImageProcessor | None = None
        self._flat = None
        if isinstance(obs_space, gym.spaces.Box):
            self._one_hot = None
            shape = tuple(obs_space.shape)
            layout = image_layout(shape, obs_space.dtype, obs_space.low, obs_space.high)
            if layout is not None:
                try:
                    self._image = ImageProcessor(shape, layout, image_size, grayscale, name or "environment")
                except ValueError as err:
                    raise EnvError(str(err)) from None
                shape = self._image.shape
        elif isinstance(obs_space, gym.spaces.Discrete):
            self._one_hot = int(obs_space.n)
            shape = (self._one_hot,)
        else:
            self._one_hot = None
            flat = flat_encoder(obs_space)
            if flat is None:
                raise EnvError(f"{name or 'environment'}: cannot encode observation space {obs_space} "
                               "(supported: Box, Discrete, MultiDiscrete, MultiBinary, and Tuple or Dict of them)")
            shape = (flat[0],)
            self._flat = flat[1]
        if self._image is None and (image_size is not None or grayscale):
            raise EnvError(f"{name or 'environment'}: env.image_size and env.grayscale apply to image observations "
                           f"(uint8 Box in 0..255, shaped (H, W), (H, W, C) or (C, H, W)); this one is {obs_space}")
        if grayscale and self._image is not None and np.dtype(obs_space.dtype) == np.bool_:
            raise EnvError(f"{name or 'environment'}: env.grayscale applies to colour images; these observations "
                           f"are boolean planes {obs_space}")
        pixels = self._image is not None
        if self._box is not None:
            self.spec = EnvSpec(obs_shape=shape, num_actions=1, num_players=1, name=name,
                                action_dim=self._box[0].size, pixels=pixels)
        else:
            self.spec = EnvSpec(obs_shape=shape, num_actions=int(act.n), num_players=1, name=name, pixels=pixels)
        self._mask = np.ones(self.spec.num_actions, dtype=bool)
        self._steps = 0
        self._copies = 0

    def _encode(self, obs) -> np.ndarray:
        if self._one_hot is not None:
            out = np.zeros(self._one_hot, dtype=np.float32)
            out[int(obs)] = 1.0
            return out
        if self._image is not None:
            try:
                return self._image(obs)
            except ValueError as err:
                raise EnvError(f"{self.spec.name}: step {self._steps} returned {err}") from None
        if self._flat is not None:
            out = np.empty(self.spec.obs_shape, dtype=np.float32)
            try:
                self._flat(obs, out)
            except (ValueError, TypeError, KeyError, IndexError) as err:
                raise EnvError(f"{self.spec.name}: step {self._steps} returned an observation that does not fit "
                               f"its space ({err})") from None
            obs = out
        arr = np.asarray(obs, dtype=np.float32)
        if arr.shape != self.spec.obs_shape:
            raise EnvError(f"{self.spec.name}: step {self._steps} returned an observation of shape {arr.shape}, "
                           f"expected {self.spec.obs_shape}")
        if not np.isfinite(arr).all():
            raise EnvError(f"{self.spec.name}: step {self._steps} returned a non-finite observation {arr}")
        return arr

    def _read_mask(self, info: dict) -> None:
        mask = info.get("action_mask") if isinstance(info, dict) else None
        self._mask = np.ones(self.spec.num_actions, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._steps = 0
        self._copies = 0  # copies made since the env last moved (envs/copies.py)
        obs, info = self.env.reset(seed=seed)
        self._read_mask(info)
        return self._encode(obs)

    def _env_action(self, action):
        """What the wrapped env is given: a Discrete index, or a Box action scaled from [-1, 1]."""
        if self._box is None:
            return int(action) + self._start
        low, high, shape, dtype = self._box
        vec = np.asarray(action, dtype=np.float64).reshape(-1)
        if vec.size != low.size:
            raise EnvError(f"{self.spec.name}: an action has {vec.size} elements, the action space {low.size}")
        if not np.isfinite(vec).all():
            raise EnvError(f"{self.spec.name}: step {self._steps + 1} was given a non-finite action {vec}")
        vec = np.clip(vec, -1.0, 1.0)
        return (low + (vec + 1.0) * 0.5 * (high - low)).reshape(shape).astype(dtype)

    def step(self, action) -> tuple[np.ndarray, float, bool, bool]:
        total = 0.0
        self._copies = 0
        given = self._env_action(action)
        for _ in range(self.action_repeat):
            self._steps += 1
            obs, reward, terminated, truncated, info = self.env.step(given)
            reward = float(reward)
            if not np.isfinite(reward):
                raise EnvError(f"{self.spec.name}: step {self._steps} returned a non-finite reward {reward}")
            total += reward
            self._read_mask(info)
            encoded = self._encode(obs)  # every frame is checked, not only the one the agent sees
            if terminated or truncated or (self._box is None and not self._mask[int(action)]):
                break
        return encoded, total, bool(terminated), bool(truncated)

    def legal_mask(self) -> np.ndarray:
        return self._mask

    def to_play(self) -> int:
        return 0

    def clone(self) -> GymEnv:
        """An independent copy of the environment's state, for a search over the true dynamics
        (search.model 'rules'): a deep copy, which works for envs whose state is plain Python and
        numpy (classic control, toy text), not for ones that hold a simulator or an emulator handle
        (Box2D, MuJoCo, ALE). The copy draws from its own random stream (envs/copies.py), never
        the real env's next draws, and does not render (a window or a clock is not copied)."""
        inner = self.env.unwrapped
        skip = {id(v): None for k in _RENDER_STATE if (v := getattr(inner, k, None)) is not None}
        try:
            other = copy.deepcopy(self, memo=skip)
        except Exception as err:
            raise EnvError(f"{self.spec.name}: its state cannot be copied ({type(err).__name__}: {err}); "
                           "search.model 'rules' needs an env that can be cloned") from None
        self._copies += 1
        copied = other.env.unwrapped
        copied.render_mode = None
        if getattr(inner, "_np_random", None) is not None:
            copied.np_random = independent_generator(inner.np_random, self._copies)
        other._copies = 0
        return other

    def render(self):
        return self.env.render()

    def close(self) -> None:
        self.env.close()
