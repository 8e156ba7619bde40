"""The OpenSpiel adapter against OpenSpiel's own state, move by move: the same
player actions and the chance outcomes the adapter drew, replayed on a raw
pyspiel state, give the same observations, legal moves, players and returns."""

from __future__ import annotations

import numpy as np
import pytest

pyspiel = pytest.importorskip("pyspiel", reason="zeroplan[openspiel] is not installed")

from zeroplan.config import EnvConfig  # noqa: E402
from zeroplan.envs import make_env  # noqa: E402
from zeroplan.envs.experts import make_opponent  # noqa: E402
from zeroplan.envs.gym import EnvError  # noqa: E402
from zeroplan.envs.openspiel import OpenSpielEnv, load_game  # noqa: E402

DICE = "openspiel:einstein_wurfelt_nicht"


def _replay_on_raw(game, chance: list[int], moves: list[int]):
    """A raw state that plays `moves` with chance taken from `chance` in order; yields it at each decision."""
    raw = game.new_initial_state()
    draws = iter(chance)
    for move in moves + [None]:
        while raw.is_chance_node():
            outcome = next(draws)
            assert outcome in dict(raw.chance_outcomes())  # the adapter only draws outcomes OpenSpiel offers
            raw.apply_action(outcome)
        yield raw.clone()
        if move is None:
            return
        raw.apply_action(move)


@pytest.mark.parametrize("seed", range(6))
def test_random_games_match_openspiels_own_state(seed):
    env = make_env(EnvConfig(id=DICE))
    rng = np.random.default_rng(seed)
    obs = env.reset(seed=seed)
    observations, masks, players, moves, rewards = [obs], [env.legal_mask()], [env.to_play()], [], []
    while not env.is_over():
        move = int(rng.choice(np.flatnonzero(env.legal_mask())))
        obs, reward, terminated, truncated = env.step(move)
        assert not truncated
        moves.append(move)
        rewards.append((players[-1], reward))
        observations.append(obs)
        masks.append(env.legal_mask())
        players.append(env.to_play())
    raw_states = list(_replay_on_raw(env.game, env.chance_log, moves))
    first = raw_states[0].current_player()
    for t, raw in enumerate(raw_states[:-1]):
        player = raw.current_player()
        assert (players[t] + first) % 2 == player  # player 0 is whoever moves first
        np.testing.assert_array_equal(observations[t][:-1], np.asarray(raw.observation_tensor(player), np.float32))
        assert observations[t][-1] == float(players[t] == 0)
        np.testing.assert_array_equal(masks[t], np.asarray(raw.legal_actions_mask(player), bool))
    final = raw_states[-1]
    assert final.is_terminal() and not masks[-1].any()
    # A terminal-reward game: each move earns its mover nothing, until the last, which earns what
    # OpenSpiel says the game was worth to the player who made it (the other's is its negative).
    assert all(r == 0 for _, r in rewards[:-1])
    last_mover, last_reward = rewards[-1]
    assert last_reward == final.returns()[(last_mover + first) % 2] != 0
    assert env.winner() == (0 if final.returns()[first] > 0 else 1)
    assert [a != b for a, b in zip(players, players[1:])] == [True] * (len(players) - 1)  # turns alternate


def test_dice_rolls_follow_openspiels_odds():
    env = make_env(EnvConfig(id=DICE))
    rolls = []
    rng = np.random.default_rng(0)
    for seed in range(40):
        env.reset(seed=seed)
        start = len(env.chance_log)
        while not env.is_over():
            env.step(int(rng.choice(np.flatnonzero(env.legal_mask()))))
        rolls += env.chance_log[start:]
    counts = np.bincount(rolls, minlength=6)
    assert len(counts) == 6 and counts.sum() > 300
    expected = counts.sum() / 6
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)


def test_a_copy_rolls_its_own_dice_and_leaves_the_game_alone():
    env = make_env(EnvConfig(id=DICE))
    env.reset(seed=1)
    before = env.state.serialize()
    move = int(np.flatnonzero(env.legal_mask())[0])
    copies = [env.clone() for _ in range(8)]
    for c in copies:
        c.step(move)
    assert env.state.serialize() == before
    assert len({tuple(c.chance_log) for c in copies}) > 1


def test_unsupported_games_are_named():
    with pytest.raises(EnvError, match="simultaneously"):
        load_game("goofspiel")
    with pytest.raises(EnvError, match="hides information"):
        load_game("kuhn_poker")
    with pytest.raises(EnvError, match="cannot load"):
        load_game("no_such_game")
    pig = OpenSpielEnv(load_game("pig"), "openspiel:pig")
    pig.reset(seed=0)
    with pytest.raises(EnvError, match="moves twice in a row"):
        for _ in range(200):  # roll until a roll that is not a 1 keeps the turn
            pig.step(0)


def test_openspiels_mcts_bot_is_an_opponent():
    env = make_env(EnvConfig(id=DICE))
    env.reset(seed=0)
    bot = make_opponent("mcts:20", DICE)
    move = bot.act(env, np.random.default_rng(0))
    assert env.legal_mask()[move]
    with pytest.raises(ValueError, match="openspiel"):
        make_opponent("mcts:20", "connect4")
    with pytest.raises(ValueError, match="whole number"):
        make_opponent("mcts:x", DICE)
