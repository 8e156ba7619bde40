"""Self-play's per-move temperature: the opening at the schedule's temperature,
the rest of each episode by the most visited action."""

from __future__ import annotations

import numpy as np

import zeroplan
from zeroplan.mcts import model as planning


def test_temperature_moves_greedy_after_the_opening(monkeypatch):
    agent = zeroplan.MuZero("tictactoe", set=["search.num_simulations=4", "train.num_envs=3", "net.hidden=[16]",
                                              "net.latent_dim=8", "train.temperature=[1.0]",
                                              "train.temperature_steps=[0]", "train.temperature_moves=2"],
                            tensorboard=False)
    seen = []
    real_search = planning.search

    def recording(*args, temperature, **kwargs):
        seen.append(np.broadcast_to(np.asarray(temperature, float), (3,)).copy())
        return real_search(*args, temperature=temperature, **kwargs)

    monkeypatch.setattr(planning, "search", recording)
    play = agent.runner.selfplay
    moves_before = []
    for _ in range(12):  # tic-tac-toe games last 5 to 9 moves: some restart in between
        moves_before.append([len(b) for b in play.builders])
        play.step(agent.runner.model, temperature=1.0)
    for temps, moves in zip(seen, moves_before):
        np.testing.assert_array_equal(temps, [1.0 if m < 2 else 0.0 for m in moves])
    assert any(0 in m for m in moves_before[5:]), "no episode restarted: the restart case went unchecked"


def test_without_temperature_moves_every_move_uses_the_schedule(monkeypatch):
    agent = zeroplan.MuZero("tictactoe", set=["search.num_simulations=4", "train.num_envs=2", "net.hidden=[16]",
                                              "net.latent_dim=8"], tensorboard=False)
    seen = []
    real_search = planning.search
    monkeypatch.setattr(planning, "search", lambda *a, temperature, **k: seen.append(temperature)
                        or real_search(*a, temperature=temperature, **k))
    for _ in range(6):
        agent.runner.selfplay.step(agent.runner.model, temperature=0.7)
    assert seen == [0.7] * 6


def _recorded_actions(fraction: float, monkeypatch, steps: int = 60):
    """Self-play on tic-tac-toe with the search's choice fixed to the first
    legal action; returns (actions played, legal masks) of every move."""
    agent = zeroplan.MuZero("tictactoe", set=["search.num_simulations=2", "train.num_envs=4", "net.hidden=[8]",
                                              "net.latent_dim=4", f"train.random_action_fraction={fraction}"],
                            tensorboard=False)
    real_search = planning.search

    def first_legal(root, *args, **kwargs):
        out = real_search(root, *args, **kwargs)
        out.actions = np.argmax(root.legal_mask, axis=1).astype(np.int64)
        return out

    monkeypatch.setattr(planning, "search", first_legal)
    play = agent.runner.selfplay
    played, legal = [], []
    for env in play.envs:  # what reaches each environment, and what it allowed then
        def recording(action, env=env, real_step=env.step):
            played.append(action)
            legal.append(env.legal_mask().copy())
            return real_step(action)

        monkeypatch.setattr(env, "step", recording)
    for _ in range(steps):
        play.step(agent.runner.model, temperature=1.0)
    return np.array(played), np.stack(legal)


def test_random_action_fraction_plays_that_share_of_random_legal_moves(monkeypatch):
    played, legal = _recorded_actions(0.0, monkeypatch)
    np.testing.assert_array_equal(played, np.argmax(legal, axis=1))  # the search's choice, always
    flat, flat_legal = _recorded_actions(0.5, monkeypatch)
    assert flat_legal[np.arange(len(flat)), flat].all()  # random moves are legal ones
    # The search always names the first legal action; a random legal move is a
    # different one with probability (n-1)/n, n the legal count, so about half
    # times that share of the moves differ.
    differ = flat != np.argmax(flat_legal, axis=1)
    expected = 0.5 * ((flat_legal.sum(1) - 1) / flat_legal.sum(1)).mean()
    assert abs(differ.mean() - expected) < 0.12, (differ.mean(), expected)


def test_playout_cap_fast_searches_pick_moves_but_leave_no_policy_target(monkeypatch):
    """train.full_search_fraction: a share of the steps searched in full (with
    policy targets), the others with train.fast_simulations (targets all zero,
    so they add no policy cross-entropy); values are recorded either way."""
    agent = zeroplan.MuZero("tictactoe", set=["search.num_simulations=8", "train.num_envs=3", "net.hidden=[16]",
                                              "net.latent_dim=8", "train.full_search_fraction=0.3",
                                              "train.fast_simulations=2"], tensorboard=False)
    sims = []
    real_search = planning.search

    def recording(root, recurrent_fn, rng, config, *args, **kwargs):
        sims.append(config.num_simulations)
        return real_search(root, recurrent_fn, rng, config, *args, **kwargs)

    monkeypatch.setattr(planning, "search", recording)
    play = agent.runner.selfplay
    stored = []  # (simulations of the step, the targets it left) per env and step
    for _ in range(80):
        before = [len(b.policies) for b in play.builders]
        builders = list(play.builders)
        play.step(agent.runner.model, temperature=1.0)
        for b, n in zip(builders, before):
            stored.append((sims[-1], np.asarray(b.policies[n])))
    assert set(sims) == {8, 2}
    full = np.mean([s == 8 for s in sims])
    assert 0.15 < full < 0.45, full  # 80 draws at 0.3
    for s, target in stored:
        if s == 8:
            assert abs(target.sum() - 1) < 1e-5 and (target > 0).any()
        else:
            assert not target.any()
    # Evaluation (explore=False) always searches in full.
    sims.clear()
    play.step(agent.runner.model, temperature=0.0, explore=False)
    assert sims == [8]


def test_playout_cap_fast_searches_must_be_fewer():
    import pytest

    from zeroplan.config import ConfigError

    with pytest.raises(ConfigError, match="train.fast_simulations 16 must be fewer than search.num_simulations 16"):
        zeroplan.MuZero("tictactoe", set=["search.num_simulations=16", "train.full_search_fraction=0.5",
                                          "train.fast_simulations=16"], tensorboard=False)
