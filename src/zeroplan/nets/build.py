"""The network a config asks for, for an environment's observation and action shapes."""

from __future__ import annotations

from zeroplan.config import Config, ConfigError
from zeroplan.nets.muzero_net import MuZeroNet


def net_obs_shape(config: Config, obs_shape: tuple[int, ...]) -> tuple[int, ...]:
    """What the network sees: `replay.stack_frames` observations stacked on the first axis."""
    return (obs_shape[0] * config.replay.stack_frames,) + tuple(obs_shape[1:])


def build_net(config: Config, obs_shape: tuple[int, ...], num_actions: int, action_dim: int = 0) -> MuZeroNet:
    """The config's network for this env; a ConfigError if the two do not fit
    (a resnet on vector observations, an action encoding the actions do not match).
    `action_dim` > 0: continuous actions of that many dimensions (Sampled MuZero)."""
    n = config.net
    try:
        return MuZeroNet(net_obs_shape(config, obs_shape), num_actions, kind=n.kind, support_size=n.support_size,
                         latent_dim=n.latent_dim, hidden=tuple(n.hidden), channels=n.channels, blocks=n.blocks,
                         action_encoding=n.action_encoding, head_hidden=n.head_hidden,
                         projection_dim=n.projection_dim if config.train.consistency_weight > 0 else 0,
                         value_prefix_hidden=n.value_prefix_hidden if n.value_prefix else 0,
                         value_prefix_horizon=n.value_prefix_horizon, action_dim=action_dim,
                         chance_codes=n.chance_codes, downsample=n.downsample)
    except ValueError as err:
        raise ConfigError(f"net: {err} ({config.env.id})") from None
