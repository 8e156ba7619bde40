"""AlphaZero's model: the search over copies of the real game finds forced wins,
never touches the real game, and refuses what it cannot do."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import ConfigError, SearchConfig, load_config
from zeroplan.envs.games.connect4 import Connect4
from zeroplan.envs.games.tictactoe import TicTacToe
from zeroplan.mcts.model import plan
from zeroplan.mcts.rules import RulesModel


class Uniform:
    """An evaluator that knows nothing: value 0, a uniform prior. Whatever the
    search finds, it finds from the rules alone."""

    def __init__(self, num_actions: int):
        self.num_actions = num_actions
        self.calls = 0

    def initial(self, obs):
        self.calls += 1
        n = len(obs)
        return np.zeros((n, 1), np.float32), np.zeros(n), np.zeros((n, self.num_actions))


def game(cls, moves):
    env = cls()
    env.reset()
    for a in moves:
        env.step(a)
    return env


def search(envs, policy, sims, model=None):
    model = model or RulesModel(Uniform(envs[0].spec.num_actions))
    cfg = SearchConfig(policy=policy, num_simulations=sims, discount=1.0, model="rules")
    obs = np.stack([e._observation() for e in envs])
    legal = np.stack([e.legal_mask() for e in envs])
    to_play = np.array([e.to_play() for e in envs])
    return plan(model, obs, legal, to_play, cfg, np.random.default_rng(0), 2, 0.0, False, envs=envs)


# X (player 0) to move in every position.
WIN_IN_ONE = ([0, 0, 1, 1, 2, 2], {3})  # X has 0-2 on the bottom row
# X on 1, 2 (bottom), O on top of them: X at 3 threatens both 0 and 4 (only 3 makes two threats).
WIN_IN_TWO = ([1, 1, 2, 2], {3})
# O threatens to complete 0-2 on the bottom row; X must block at 3 (X's stones nowhere near a win).
MUST_BLOCK = ([6, 0, 6, 1, 5, 2], {3})


@pytest.mark.parametrize("policy,sims", [("puct", 400), ("gumbel", 400)])
@pytest.mark.parametrize("moves,answers", [WIN_IN_ONE, WIN_IN_TWO, MUST_BLOCK])
def test_the_search_over_the_rules_finds_forced_wins_and_blocks(policy, sims, moves, answers):
    # With values all 0, Gumbel's sequential halving separates the moves only once each has had a few
    # visits: at 200 simulations it drops the winning move 3 of WIN_IN_TWO on a tie after one visit each.
    envs = [game(Connect4, moves), game(Connect4, [])]  # a batch: the empty board searched alongside
    out = search(envs, policy, sims)
    assert int(out.actions[0]) in answers, out.visit_counts[0]


def test_a_forced_win_is_valued_as_won():
    out = search([game(Connect4, WIN_IN_ONE[0]), game(Connect4, WIN_IN_TWO[0])], "puct", 400)
    assert out.root_values[0] > 0.9 and out.root_values[1] > 0.5


@pytest.mark.parametrize("policy", ["puct", "gumbel"])
def test_searching_never_changes_the_real_game(policy):
    envs = [game(Connect4, [3, 3, 4]), game(TicTacToe, [4, 0, 8])]
    for env in envs:
        before = (env.board(), env.to_play(), env.legal_mask().copy(), env._observation().copy(), env.is_over())
        search([env], policy, 200)
        after = (env.board(), env.to_play(), env.legal_mask(), env._observation(), env.is_over())
        for x, y in zip(before, after):
            np.testing.assert_array_equal(x, y)
        env.step(int(np.flatnonzero(env.legal_mask())[0]))  # and it still plays on


def test_finished_games_inside_the_tree_are_absorbing():
    # Tic-tac-toe two moves from a full board: many simulations reach the end and go on from there.
    env = game(TicTacToe, [0, 1, 2, 4, 3, 5, 7])  # X O X / X O O / . X . : O to move, cells 6 and 8 left
    out = search([env], "puct", 100)
    assert out.visit_counts.sum() == 100 and set(np.flatnonzero(out.visit_counts[0])) <= {6, 8}


def test_the_evaluator_sees_each_new_position_once_per_simulation():
    model = RulesModel(Uniform(7))
    search([game(Connect4, []), game(Connect4, [3])], "gumbel", 16, model=model)
    assert model.evaluator.calls == 1 + 16  # the roots, then one batched call per simulation


def test_planning_without_the_environments_is_refused():
    env = game(Connect4, [])
    model = RulesModel(Uniform(7))
    with pytest.raises(ValueError, match="needs the environments"):
        plan(model, env._observation()[None], env.legal_mask()[None], np.zeros(1, int), SearchConfig(),
             np.random.default_rng(0), 2, 0.0, False)


def test_an_env_that_cannot_be_copied_is_named():
    class NoClone:
        spec = Connect4.spec

        def legal_mask(self):
            return np.ones(7, bool)

    with pytest.raises(TypeError, match="cannot be copied.*search.model 'learned'"):
        RulesModel(Uniform(7)).initial(np.zeros((1, 3, 6, 7), np.float32), [NoClone()])


@pytest.mark.parametrize("sets,message", [
    (["search.model=rules", "replay.stack_frames=2"], "stack_frames 1"),
    (["search.model=rules", "train.reanalyse_fraction=0.5"], "reanalyse_fraction must be 0"),
    (["search.model=rule"], "search.model"),
])
def test_config_refuses_what_the_rules_model_cannot_do(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tictactoe", dotted=sets)


def test_a_gymnasium_env_is_searched_through_deep_copies():
    from zeroplan.config import EnvConfig
    from zeroplan.envs import make_env

    env = make_env(EnvConfig(id="CartPole-v1"))
    env.reset(seed=3)
    copy = env.clone()
    np.testing.assert_array_equal(copy.step(0)[0], env.step(0)[0])  # the same state: the same step
    assert not np.array_equal(copy.step(1)[0], env.step(0)[0])  # independent: each went its own way


def test_copies_of_a_stochastic_env_do_not_know_its_next_draws():
    """A deep copy carries the env's random generator; a copy must get its own
    stream, or a search over copies would see which way the ice slips."""
    from zeroplan.config import EnvConfig
    from zeroplan.envs import make_env

    def walk(seed):
        env = make_env(EnvConfig(id="FrozenLake-v1"))  # slippery
        env.reset(seed=seed)
        same, copied = 0, []
        for t in range(60):
            copy = env.clone()
            a = t % 4
            copied.append(copy.step(a)[0])
            real = env.step(a)
            same += np.array_equal(copied[-1], real[0])
            if real[2] or real[3]:
                env.reset(seed=seed + t + 1)
        return same, copied

    same, first = walk(0)
    assert same < 50  # moves slip 2 times in 3: independent copies agree with the real env far less often
    _, again = walk(0)
    for x, y in zip(first, again):  # the same position copied the same way: the same streams (resume replays them)
        np.testing.assert_array_equal(x, y)


def test_copies_keep_the_perturbation_of_a_wrapped_env_and_do_not_render():
    from zeroplan.config import EnvConfig
    from zeroplan.envs.render import make_render_env
    from zeroplan.envs.wrappers import ObservationNoise

    env = ObservationNoise(make_render_env(EnvConfig(id="CartPole-v1"), "rgb_array"), std=0.5)
    env.reset(seed=0)
    env.render()  # the renderer's state now exists on the real env
    copy = env.clone()
    assert isinstance(copy, ObservationNoise) and copy.env is not env.env
    assert copy.env.env.unwrapped.render_mode is None
    a, b = copy.step(0)[0], env.step(0)[0]
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 5  # noisy copies of one state, independent noise
