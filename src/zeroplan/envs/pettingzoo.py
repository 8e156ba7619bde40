"""Two-player PettingZoo AEC games -> the turn-based contract.

PettingZoo hands every agent its own dict observation ({"observation",
"action_mask"}) and keeps per-agent rewards; the rest of zeroplan wants one
observation for whoever moves next, one legal mask and the reward of the player
who just moved. This adapter does that translation and nothing more: actions are
the environment's own, so PettingZoo's tic-tac-toe numbers its cells
column-major where the native engine numbers them row-major.

Image-like observations [H, W, C] become float32 planes [C + 1, H, W], the
extra plane all ones when the first agent is to move (the native games'
convention); anything else is flattened with one to-play feature appended.

pettingzoo is an optional dependency (`pip install zeroplan[pettingzoo]`); it is
imported only when an adapter is built.
"""

from __future__ import annotations

import importlib
import operator
from typing import Any

import numpy as np

from zeroplan.envs.games.base import TurnBased
from zeroplan.envs.gym import EnvError
from zeroplan.envs.spec import EnvSpec

PREFIX = "pettingzoo:"
# Imported by module path rather than through `pettingzoo.classic.<name>`: the
# latter is deprecated from 1.27 on and warns, the module path works from 1.24.
CLASSIC_GAMES: dict[str, str] = {
    "tictactoe_v3": "pettingzoo.classic.tictactoe.tictactoe",
    "connect_four_v3": "pettingzoo.classic.connect_four.connect_four",
}


def make_aec(name: str, kwargs: dict[str, Any] | None = None):
    """A PettingZoo classic AEC env by name (e.g. "connect_four_v3"), with a clear error
    when pettingzoo is missing or the name is not one we adapt."""
    if name not in CLASSIC_GAMES:
        raise EnvError(f"PettingZoo game {name!r} is not supported; choose from {', '.join(CLASSIC_GAMES)}")
    try:
        module = importlib.import_module(CLASSIC_GAMES[name])
    except ImportError as err:
        raise EnvError(f"{PREFIX}{name} needs PettingZoo: pip install 'zeroplan[pettingzoo]' ({err})") from None
    return module.env(**(kwargs or {}))


class PettingZooEnv(TurnBased):
    """A two-player AEC env seen through `envs.spec.TurnBasedEnv`.

    Illegal actions raise ValueError here instead of reaching PettingZoo, whose
    wrappers would end the game with a penalty. After the game ends the legal
    mask is all False and `step` raises until `reset`.
    """

    def __init__(self, aec_env, name: str = "") -> None:
        self.env = aec_env
        self.env.reset()
        agents = list(aec_env.possible_agents)
        if len(agents) != 2:
            raise EnvError(f"{name or 'PettingZoo env'}: expected two agents, got {agents}")
        self._agents = agents
        space = aec_env.observation_space(agents[0])
        try:
            raw_shape = tuple(space["observation"].shape)
            num_actions = int(aec_env.action_space(agents[0]).n)
        except (KeyError, TypeError, AttributeError):
            raise EnvError(f"{name or 'PettingZoo env'}: needs dict observations with an 'action_mask' "
                           "and a Discrete action space") from None
        self._planes = len(raw_shape) == 3
        if self._planes:
            h, w, c = raw_shape
            obs_shape: tuple[int, ...] = (c + 1, h, w)
        else:
            obs_shape = (int(np.prod(raw_shape)) + 1,)
        self.spec = EnvSpec(obs_shape=obs_shape, num_actions=num_actions, num_players=2, name=name)
        self._mask = np.zeros(num_actions, dtype=bool)
        self._player = 0
        self._done = False
        self._winner = -1

    # --- the contract -------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.env.reset(seed=seed)
        self._done = False
        self._winner = -1
        return self._observe()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        name = self.spec.name or "PettingZoo env"
        if self._done:
            raise ValueError(f"{name}: the game is over; call reset() before stepping again")
        try:
            a = operator.index(action)
        except TypeError:
            raise ValueError(f"{name}: action must be an integer, got {action!r}") from None
        if not 0 <= a < self.spec.num_actions:
            raise ValueError(f"{name}: action {a} is out of range 0..{self.spec.num_actions - 1}")
        if not self._mask[a]:
            raise ValueError(f"{name}: illegal action {a} (legal: {np.flatnonzero(self._mask).tolist()})")
        mover = self._player
        agent = self._agents[mover]
        self.env.step(a)
        # `rewards` holds what the last step produced; the mover's entry is its own outcome.
        reward = float(self.env.rewards.get(agent, 0.0))
        terminated = bool(self.env.terminations.get(agent, False))
        truncated = bool(self.env.truncations.get(agent, False)) and not terminated
        self._done = terminated or truncated
        if reward > 0:
            self._winner = mover
        elif reward < 0:
            self._winner = 1 - mover
        return self._observe(), reward, terminated, truncated

    def legal_mask(self) -> np.ndarray:
        if self._done:
            return np.zeros(self.spec.num_actions, dtype=bool)
        return self._mask.copy()

    # to_play(), winner() and is_over() come from TurnBased (player 0 moves first)

    def close(self) -> None:
        self.env.close()

    def _observe(self) -> np.ndarray:
        agent = self.env.agent_selection
        self._player = self._agents.index(agent)
        raw = self.env.observe(agent)
        self._mask = np.asarray(raw["action_mask"], dtype=bool).copy()
        board = np.asarray(raw["observation"], dtype=np.float32)
        first = 1.0 if self._player == 0 else 0.0
        if self._planes:
            planes = np.empty(self.spec.obs_shape, dtype=np.float32)
            planes[:-1] = np.moveaxis(board, -1, 0)
            planes[-1] = first
            return planes
        return np.append(board.reshape(-1), np.float32(first)).astype(np.float32)


def make_pettingzoo(env_id: str, kwargs: dict[str, Any] | None = None) -> PettingZooEnv:
    """`make_env`'s entry for ids of the form "pettingzoo:<game>"."""
    name = env_id[len(PREFIX):] if env_id.startswith(PREFIX) else env_id
    return PettingZooEnv(make_aec(name, kwargs), name=env_id)
