"""AlphaZero's model: the search steps copies of the real environment.

`RulesModel` has the face of a learned model (`initial`, `recurrent_fn`, numpy
in and out), so the batched search and everything that plans through
`mcts.model.plan` are unchanged; only what an embedding means differs. Here it
is an index into the positions this search has reached: the roots are copies
of the environments being played (`initial(obs, envs)`), and each expansion
copies its parent's position and plays the edge's action on it, so the reward,
the end of the game and the legal moves are the true ones. The network only
evaluates positions, from their observations (value and prior). Illegal moves
get a logit of -inf, which the search reads as "not a move here"
(docs/search.md). A finished game is absorbing: every action leads back to it
with reward 0 and value 0. A game cut off by a time limit is absorbing too,
worth what the network said of it, however often it is revisited.

An environment qualifies when it has `clone()`, an independent copy of its
state (the native games; Gymnasium envs whose state can be deep-copied; your
own). The copies live until the next `initial`.
"""

from __future__ import annotations

import numpy as np

from zeroplan.config import ConfigError
from zeroplan.mcts.model import Model


class RulesModel:
    """Search over the true rules, with `evaluator` (a `Model`: its `initial`) evaluating positions."""

    steps_envs = True  # `plan` hands `initial` the environments of the roots

    def __init__(self, evaluator: Model):
        self.evaluator = evaluator
        self._positions: list = []
        self._over: list[bool] = []
        self._held: list[float] = []  # the value an absorbing position keeps: 0 when the game ended, else the net's
        self._num_actions = 0

    def initial(self, obs: np.ndarray, envs=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network's value and logits for `obs` [B, ...]; with `envs` (the
        environments the observations came from), copies of them become the
        search's roots, and the embeddings [B, 1] index them."""
        _, value, logits = self.evaluator.initial(obs)
        if envs is None:  # an evaluation only (e.g. the value of a cut-off episode's last state)
            return np.full((len(obs), 1), -1, dtype=np.int64), value, logits
        if len(envs) != len(obs):
            raise ValueError(f"{len(envs)} environments for {len(obs)} observations")
        self._positions = [clone_env(env) for env in envs]
        self._over = [bool(env.is_over()) if hasattr(env, "is_over") else False for env in envs]
        self._held = [0.0] * len(envs)
        self._num_actions = logits.shape[1]
        return np.arange(len(envs), dtype=np.int64)[:, None], value, logits

    def recurrent_fn(self, ids: np.ndarray, actions: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(position ids [B, 1], actions [B]) -> (ids of the positions reached [B, 1], true rewards [B],
        values [B] (0 where the game ended), logits [B, A] (-inf on illegal moves))."""
        batch = len(actions)
        next_ids = np.empty((batch, 1), dtype=np.int64)
        rewards = np.zeros(batch)
        values = np.zeros(batch)
        logits = np.zeros((batch, self._num_actions))  # absorbing positions: every action leads back, uniformly
        rows, obs, legal = [], [], []
        for b in range(batch):
            i = int(ids[b, 0])
            if i < 0:
                raise ValueError("RulesModel.recurrent_fn was given no position: initial() needs the environments")
            if self._over[i]:  # absorbing: nothing more happens
                next_ids[b, 0] = i
                values[b] = self._held[i]
                continue
            position = self._positions[i].clone()
            ob, reward, terminated, truncated = position.step(int(actions[b]))
            rewards[b] = reward
            next_ids[b, 0] = len(self._positions)
            self._positions.append(position)
            self._over.append(bool(terminated or truncated))
            self._held.append(0.0)
            if not terminated:  # a cut-off episode is worth what the network says, like self-play's
                rows.append(b)
                obs.append(ob)
                legal.append(position.legal_mask() if not truncated else None)
        if rows:
            _, v, lg = self.evaluator.initial(np.stack(obs))
            values[rows] = v
            for j, b in enumerate(rows):
                logits[b] = lg[j] if legal[j] is None else np.where(legal[j], lg[j], -np.inf)
                if legal[j] is None:  # cut off: it keeps this value
                    self._held[int(next_ids[b, 0])] = float(v[j])
        return next_ids, rewards, values, logits


def clone_env(env):
    """An independent copy of `env`'s state (its `clone()`), or a clear error."""
    clone = getattr(env, "clone", None)
    if not callable(clone):
        name = getattr(getattr(env, "spec", None), "name", "") or type(env).__name__
        raise TypeError(f"{name} cannot be copied (it has no clone()): search.model 'rules' (AlphaZero) steps "
                        "copies of the real environment; use search.model 'learned' for this env")
    return clone()


def check_copies(env, env_id: str) -> None:
    """search.model 'rules' steps copies of the environment: try one (reset, copy,
    step the copy) before the run starts, so an env whose copies do not work is
    a clear error at the door, not a failure deep inside a search."""
    try:
        env.reset(seed=0)
        copy = clone_env(env)
        copy.step(int(np.flatnonzero(env.legal_mask())[0]))
    except Exception as err:
        said = str(err)
        raise ConfigError(said if "cannot be copied" in said else
                          f"{env_id} cannot be copied and stepped ({type(err).__name__}: {said}): search.model "
                          "'rules' (AlphaZero) steps copies of the real environment") from None
