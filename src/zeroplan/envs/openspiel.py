"""OpenSpiel games -> the turn-based contract: `openspiel:<game>` (e.g.
`openspiel:einstein_wurfelt_nicht`, a dice game), parameters in `env.kwargs`.

OpenSpiel keeps one state that chance, and each player in turn, act on. This
adapter plays chance itself: after every move it samples each chance node's
outcome from OpenSpiel's own probabilities (`chance_outcomes()`) with the
env's generator, until a player is to move or the game ends, so the agent
sees only decisions (the chance lives in the environment, as for plain
MuZero; `chance_log` lists what was drawn). The legal moves are OpenSpiel's
mask; the reward is the sum of what the move and the chance after it gave
the mover (`rewards()`).

Players are numbered by the order they move in each game: player 0 is the one
who moves first (OpenSpiel's player 1 in some games, and in others decided by
a die). The observation is OpenSpiel's observation tensor for the player to
move, flattened, with one feature appended that is 1 when player 0 is to
move (the native games' convention). The search assumes turns alternate in a
two-player game; a game where a player moves twice in a row is refused with
a message when it happens.

Only sequential, perfect-information games with one or two players and an
observation tensor qualify. open_spiel is an optional dependency
(`pip install 'zeroplan[openspiel]'`), imported when an adapter is built.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from zeroplan.envs.copies import independent_generator
from zeroplan.envs.games.base import TurnBased
from zeroplan.envs.gym import EnvError
from zeroplan.envs.spec import EnvSpec

PREFIX = "openspiel:"


def load_game(name: str, params: dict[str, Any] | None = None):
    """The pyspiel game, checked against what the adapter supports."""
    try:
        import pyspiel
    except ImportError as err:
        raise EnvError(f"{PREFIX}{name} needs OpenSpiel: pip install 'zeroplan[openspiel]' ({err})") from None
    try:
        game = pyspiel.load_game(name, dict(params or {}))
    except pyspiel.SpielError as err:
        raise EnvError(f"{PREFIX}{name}: OpenSpiel cannot load it ({err})") from None
    kind = game.get_type()
    problems = []
    if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        problems.append("its players move simultaneously")
    if kind.information != pyspiel.GameType.Information.PERFECT_INFORMATION:
        problems.append("it hides information from a player")
    if game.num_players() not in (1, 2):
        problems.append(f"it has {game.num_players()} players (1 or 2 are supported)")
    if not kind.provides_observation_tensor:
        problems.append("it has no observation tensor")
    if problems:
        raise EnvError(f"{PREFIX}{name} cannot be played here: {'; '.join(problems)}")
    return game


class OpenSpielEnv(TurnBased):
    """A pyspiel game seen through `envs.spec.TurnBasedEnv`; chance is sampled here."""

    def __init__(self, game, name: str = "") -> None:
        self.game = game
        self.name = name or f"{PREFIX}{game.get_type().short_name}"
        self._players = game.num_players()
        size = int(np.prod(game.observation_tensor_shape()))
        self.spec = EnvSpec(obs_shape=(size + (self._players == 2),), num_actions=game.num_distinct_actions(),
                            num_players=self._players, name=self.name)
        self._rng = np.random.default_rng()
        self._copies = 0
        self.state = None
        self.chance_log: list[int] = []

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._rng = np.random.default_rng(seed)
        self._copies = 0
        self.state = self.game.new_initial_state()
        self.chance_log = []
        self._done, self._winner = False, -1
        self._play_chance()
        self._first = self.state.current_player() if not self.state.is_terminal() else 0
        self._player = 0
        return self._observe()

    def _play_chance(self) -> np.ndarray:
        """Sample chance nodes until a player moves; the rewards they gave, per OpenSpiel player."""
        total = np.zeros(self._players)
        while self.state.is_chance_node():
            outcomes, probs = zip(*self.state.chance_outcomes())
            p = np.asarray(probs, dtype=np.float64)
            outcome = int(outcomes[int(self._rng.choice(len(outcomes), p=p / p.sum()))])
            self.state.apply_action(outcome)
            self.chance_log.append(outcome)
            total += np.asarray(self.state.rewards())
        return total

    def _spiel_player(self, player: int) -> int:
        return (player + self._first) % self._players

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        if self.state is None or self._done:
            raise ValueError(f"{self.name}: the game is over (or not started); call reset()")
        try:
            a = operator.index(action)
        except TypeError:
            raise ValueError(f"{self.name}: action must be an integer, got {action!r}") from None
        mask = self.legal_mask()
        if not 0 <= a < mask.size or not mask[a]:
            raise ValueError(f"{self.name}: illegal action {a} (legal: {np.flatnonzero(mask).tolist()})")
        mover = self._player
        spiel_mover = self._spiel_player(mover)
        self._copies = 0
        self.state.apply_action(a)
        reward = float(self.state.rewards()[spiel_mover]) + float(self._play_chance()[spiel_mover])
        self._done = bool(self.state.is_terminal())
        if self._done:
            returns = self.state.returns()
            if self._players == 2 and returns[0] != returns[1]:
                self._winner = (int(np.argmax(returns)) - self._first) % 2
            self._player = (mover + 1) % self._players  # as the native games: the turn passes at the end too
        else:
            nxt = (self.state.current_player() - self._first) % self._players
            if self._players == 2 and nxt == mover:
                raise EnvError(f"{self.name}: player {mover} moves twice in a row; the search supports two-player "
                               "games whose turns alternate")
            self._player = nxt
        return self._observe(), reward, self._done, False

    def legal_mask(self) -> np.ndarray:
        if self._done or self.state is None:
            return np.zeros(self.spec.num_actions, dtype=bool)
        return np.asarray(self.state.legal_actions_mask(self.state.current_player()), dtype=bool)

    def clone(self) -> OpenSpielEnv:
        """An independent copy whose chance draws come from a stream of its own."""
        other = OpenSpielEnv.__new__(OpenSpielEnv)
        other.__dict__.update(self.__dict__)
        other.state = self.state.clone()
        other.chance_log = list(self.chance_log)
        self._copies += 1
        other._rng, other._copies = independent_generator(self._rng, self._copies), 0
        return other

    def render(self) -> str:
        return str(self.state)

    def _observe(self) -> np.ndarray:
        seen = self.state.current_player() if not self.state.is_terminal() else self._spiel_player(self._player)
        obs = np.asarray(self.state.observation_tensor(seen), dtype=np.float32)
        if self._players == 2:
            obs = np.append(obs, np.float32(self._player == 0))
        return obs


def make_openspiel(env_id: str, kwargs: dict[str, Any] | None = None) -> OpenSpielEnv:
    """`make_env`'s entry for ids of the form "openspiel:<game>"."""
    name = env_id[len(PREFIX):]
    return OpenSpielEnv(load_game(name, kwargs), name=env_id)


class OpenSpielMCTS:
    """OpenSpiel's own MCTS bot (UCT with random rollouts, chance nodes sampled) as an
    evaluation opponent: `--opponent mcts:N` for N simulations per move."""

    def __init__(self, simulations: int, rollouts: int = 1, uct_c: float = 2.0):
        self.simulations, self.rollouts, self.uct_c = simulations, rollouts, uct_c

    def act(self, env: OpenSpielEnv, rng: np.random.Generator) -> int:
        from open_spiel.python.algorithms import mcts

        seed = np.random.RandomState(int(rng.integers(2**31)))
        evaluator = mcts.RandomRolloutEvaluator(n_rollouts=self.rollouts, random_state=seed)
        bot = mcts.MCTSBot(env.game, self.uct_c, self.simulations, evaluator, random_state=seed)
        return int(bot.step(env.state.clone()))
