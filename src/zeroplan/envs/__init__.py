"""Environments, all seen by the rest of the code through one contract
(`envs.spec.TurnBasedEnv`). Nothing outside this package imports gymnasium or
pettingzoo."""

from __future__ import annotations

from zeroplan.config import EnvConfig

NATIVE_GAMES = ("tictactoe", "connect4", "2048")
PETTINGZOO_GAMES = ("pettingzoo:tictactoe_v3", "pettingzoo:connect_four_v3")


def make_env(config: EnvConfig, training: bool = False):
    """A fresh environment for `config.id`: a native game's name, "pettingzoo:<game>"
    for a PettingZoo classic game, "module:Name" for your own (envs/user.py), or
    else a Gymnasium id (ALE/ ids with the Atari protocol, envs/atari.py).
    `training`: for self-play, where settings such as env.episodic_life apply."""
    env = _make(config, training)
    from zeroplan.envs.gym import EnvError, GymEnv

    if config.action_repeat > 1 and not isinstance(env, GymEnv):  # GymEnv repeats; nothing else can
        raise EnvError(f"{config.id}: env.action_repeat is for Gymnasium environments; {type(env).__name__} "
                       "is on the turn-based contract, whose moves cannot be repeated")
    return env


def _make(config: EnvConfig, training: bool):
    if config.id == "tictactoe":
        from zeroplan.envs.games.tictactoe import TicTacToe

        return TicTacToe()
    if config.id == "connect4":
        from zeroplan.envs.games.connect4 import Connect4

        return Connect4()
    if config.id == "2048":
        from zeroplan.envs.games.g2048 import Game2048

        return Game2048()
    if config.id.startswith("openspiel:"):
        from zeroplan.envs.openspiel import make_openspiel

        return make_openspiel(config.id, config.kwargs)
    from zeroplan.envs.user import is_user_env, make_user_env

    if is_user_env(config.id):
        return make_user_env(config.id, config.max_episode_steps, config.kwargs, config.image_size, config.grayscale,
                             config.action_repeat)
    if config.id.startswith("pettingzoo:"):
        from zeroplan.envs.pettingzoo import make_pettingzoo

        return make_pettingzoo(config.id, config.kwargs)
    if config.id.startswith("ALE/"):
        from zeroplan.envs.atari import make_atari

        return make_atari(config, training)
    from zeroplan.envs.gym import GymEnv, make_gym

    return GymEnv(make_gym(config.id, config.max_episode_steps, config.kwargs), name=config.id,
                  image_size=config.image_size, grayscale=config.grayscale, action_repeat=config.action_repeat)
