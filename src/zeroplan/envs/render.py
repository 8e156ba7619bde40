"""Gymnasium envs made for showing, not training: pixel frames for a GIF, or text.

Rendering is chosen when a Gymnasium env is made, so these are separate
factories rather than a switch on the training env. Modes are checked against
the env's declared `render_modes` first, because Gymnasium only warns about an
unsupported mode and the failure would come later, far from its cause.
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import EnvConfig
from zeroplan.envs.gym import EnvError, GymEnv, make_gym


def render_modes(config: EnvConfig) -> list[str]:
    """The render modes a Gymnasium env declares; EnvError for envs that are not Gymnasium's."""
    from zeroplan.envs import make_env

    probe = make_env(config)
    try:
        if not isinstance(probe, GymEnv):
            raise EnvError(f"{config.id}: not a Gymnasium env, it has no render modes (its render() is text)")
        return list(probe.env.metadata.get("render_modes", []))
    finally:
        close = getattr(probe, "close", None)
        if close is not None:
            close()


def make_render_env(config: EnvConfig, mode: str, modes: list[str] | None = None) -> GymEnv:
    """The config's env, made with `render_mode=mode` ("rgb_array" or "ansi");
    `modes`, the env's render modes when the caller has them already."""
    modes = render_modes(config) if modes is None else modes
    if mode not in modes:
        raise EnvError(f"{config.id}: cannot render as {mode!r} (it offers: {', '.join(modes) or 'nothing'})")
    kwargs = {**config.kwargs, "render_mode": mode}
    return GymEnv(make_gym(config.id, config.max_episode_steps, kwargs), name=config.id,
                  image_size=config.image_size, grayscale=config.grayscale, action_repeat=config.action_repeat)


def rgb_frame(env: GymEnv) -> np.ndarray:
    """The current frame as uint8 [H, W, 3]; a missing drawing library becomes an EnvError with the fix."""
    import gymnasium.error

    try:
        frame = env.render()
    except gymnasium.error.DependencyNotInstalled as err:
        raise EnvError(f"{env.spec.name}: rendering needs an optional dependency ({err})") from None
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise EnvError(f"{env.spec.name}: render() returned an array of shape {frame.shape}, expected [H, W, 3]")
    return np.ascontiguousarray(frame[..., :3]).astype(np.uint8)


def frames_per_second(env: GymEnv, default: float = 30.0) -> float:
    """Frames shown per second: the env's own rate, divided by the action repeat
    because only one frame per decision is drawn."""
    fps = env.env.metadata.get("render_fps")
    return (float(fps) if fps else default) / env.action_repeat
