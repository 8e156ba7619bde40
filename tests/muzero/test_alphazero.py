"""AlphaZero: MuZero's loop searching copies of the real game. It learns
tic-tac-toe to perfect play in seconds, its agents save, load and play, and
a MuZero agent can be searched over the real rules as a probe."""

from __future__ import annotations

import numpy as np
import pytest

import zeroplan
from zeroplan.envs.experts import perfect_play_mistakes
from zeroplan.envs.games.tictactoe import TicTacToe
from zeroplan.mcts.rules import RulesModel
from zeroplan.muzero.agent import AlphaZero, MuZero, load


def mistakes_against_perfect_play(agent, player: int) -> int:
    choose = lambda env: agent.predict(env._observation(), env.legal_mask(), to_play=env.to_play(), env=env)  # noqa: E731
    return len(perfect_play_mistakes(choose, player)[1])


@pytest.mark.slow
def test_alphazero_learns_tictactoe_to_perfect_play_in_a_few_thousand_moves(tmp_path):
    agent = AlphaZero("tictactoe", seed=0, run_dir=tmp_path, tensorboard=False)
    assert (agent.config.search.model, agent.config.replay.unroll_steps) == ("rules", 0)
    assert isinstance(agent.model, RulesModel)
    result = agent.learn(total_env_steps=20_000)
    assert result.solved_at is not None  # an evaluation with no loss in 50 games per side vs perfect play
    best = zeroplan.load(tmp_path)  # the best checkpoint, as a MuZero whose config searches the rules
    assert isinstance(best.model, RulesModel)
    assert mistakes_against_perfect_play(best, 0) == 0
    assert mistakes_against_perfect_play(best, 1) == 0


def test_without_an_alphazero_preset_alphazero_takes_the_muzero_settings_over_the_rules():
    config, notes = AlphaZero.config_for("CartPole-v1", {"search": {"num_simulations": 7}})
    muzero, _ = MuZero.config_for("CartPole-v1")
    assert (config.search.model, config.replay.unroll_steps, config.search.num_simulations) == ("rules", 0, 7)
    assert config.net == muzero.net and config.train.lr == muzero.train.lr
    assert any("no AlphaZero preset" in n for n in notes)
    config, notes = AlphaZero.config_for("connect4")
    assert config.search.model == "rules" and notes == ["preset connect4-alphazero"]
    # a MuZero preset with a value prefix (a learned reward model): the rules replace it
    assert MuZero.config_for("LunarLander-v3")[0].net.value_prefix
    config, _ = AlphaZero.config_for("LunarLander-v3")
    assert (config.search.model, config.replay.unroll_steps, config.net.value_prefix) == ("rules", 0, False)


def test_a_gymnasium_env_trains_over_deep_copies_and_predict_needs_the_env(tmp_path):
    agent = AlphaZero("CartPole-v1", seed=0, run_dir=tmp_path, tensorboard=False,
                      set=["train.min_replay_size=64", "search.num_simulations=4", "run.eval_interval=100000"])
    result = agent.learn(total_env_steps=300)
    assert result.env_steps >= 300 and result.train_steps > 0
    env = agent.env_factory()
    obs = env.reset(seed=1)
    assert agent.predict(obs, env=env) in (0, 1)
    with pytest.raises(ValueError, match="needs the environments"):
        agent.predict(obs)


def test_a_muzero_agent_searched_over_the_real_rules(tmp_path):
    agent = MuZero("tictactoe", seed=0, run_dir=tmp_path, tensorboard=False,
                   set=["train.min_replay_size=64", "search.num_simulations=8", "run.eval_interval=100000",
                        "train.reanalyse_fraction=0.5"])
    agent.learn(total_env_steps=200)
    agent.save(tmp_path / "saved")
    learned = load(tmp_path / "saved")
    ruled = load(tmp_path / "saved", search={"model": "rules", "num_simulations": 64})
    assert not isinstance(learned.model, RulesModel) and isinstance(ruled.model, RulesModel)
    env = TicTacToe()
    obs = env.reset()
    # Win in one for X at cell 2 (X on 0 and 1, O on 3 and 4): the rules see it whatever the network says.
    for a in (0, 3, 1, 4):
        obs, *_ = env.step(a)
    assert ruled.predict(obs, env.legal_mask(), env=env) == 2
    np.testing.assert_array_equal(env.legal_mask(), [0, 0, 1, 0, 0, 1, 1, 1, 1])  # the real game untouched
