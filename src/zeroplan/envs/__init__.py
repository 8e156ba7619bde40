"""Environments, all seen by the rest of the code through one contract
(`envs.spec.TurnBasedEnv`). Nothing outside this package imports gymnasium or
pettingzoo."""

from __future__ import annotations

from zeroplan.config import EnvConfig

NATIVE_GAMES = ("tictactoe",)


def make_env(config: EnvConfig):
    """A fresh environment for `config.id`: a native game's name or a Gymnasium id."""
    if config.id == "tictactoe":
        from zeroplan.envs.games.tictactoe import TicTacToe

        return TicTacToe()
    from zeroplan.envs.gym import GymEnv, make_gym

    return GymEnv(make_gym(config.id, config.max_episode_steps, config.kwargs), name=config.id)
