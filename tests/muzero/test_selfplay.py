"""Self-play's per-move temperature: the opening at the schedule's temperature,
the rest of each episode by the most visited action."""

from __future__ import annotations

import numpy as np

import zeroplan
from zeroplan.muzero import selfplay


def test_temperature_moves_greedy_after_the_opening(monkeypatch):
    agent = zeroplan.MuZero("tictactoe", set=["search.num_simulations=4", "train.num_envs=3", "net.hidden=[16]",
                                              "net.latent_dim=8", "train.temperature=[1.0]",
                                              "train.temperature_steps=[0]", "train.temperature_moves=2"],
                            tensorboard=False)
    seen = []
    real_search = selfplay.search

    def recording(*args, temperature, **kwargs):
        seen.append(np.broadcast_to(np.asarray(temperature, float), (3,)).copy())
        return real_search(*args, temperature=temperature, **kwargs)

    monkeypatch.setattr(selfplay, "search", recording)
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
    real_search = selfplay.search
    monkeypatch.setattr(selfplay, "search", lambda *a, temperature, **k: seen.append(temperature)
                        or real_search(*a, temperature=temperature, **k))
    for _ in range(6):
        agent.runner.selfplay.step(agent.runner.model, temperature=0.7)
    assert seen == [0.7] * 6
