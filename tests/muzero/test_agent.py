"""The Python API: MuZero(env), learn, predict, save, load."""

from __future__ import annotations

import numpy as np

import zeroplan


def test_api_round_trip(tmp_path):
    agent = zeroplan.MuZero("CartPole-v1", set=["run.max_env_steps=48", "train.min_replay_size=16",
                                                 "search.num_simulations=4", "train.num_envs=4",
                                                 "run.eval_interval=1000"], tensorboard=False)
    assert agent.config.search.policy == "gumbel"  # the CartPole preset was chosen by env id
    agent.learn(total_env_steps=48)
    obs = np.zeros(4, np.float32)
    action = agent.predict(obs)
    assert action in (0, 1)
    batch_actions = agent.predict(np.zeros((3, 4), np.float32))
    assert batch_actions.shape == (3,)
    assert agent.predict(obs, legal_mask=np.array([False, True])) == 1
    agent.save(tmp_path / "agent")
    again = zeroplan.load(tmp_path / "agent")
    for (k, a), (_, b) in zip(agent.net.state_dict().items(), again.net.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    assert again.predict(obs) == agent.predict(obs)
    assert again.config == agent.config


TINY = ["search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=16", "run.eval_interval=1000",
        "net.hidden=[16]", "net.latent_dim=8"]


def test_load_builds_only_the_network_and_search(tmp_path, monkeypatch):
    """No environment is made and no global generator is touched until the
    loaded agent is evaluated or trained."""
    import random

    import torch

    agent = zeroplan.MuZero("CartPole-v1", set=TINY, tensorboard=False)
    agent.save(tmp_path / "agent")
    import zeroplan.envs as envs

    def no_env(*args, **kwargs):
        raise AssertionError("load made an environment")

    monkeypatch.setattr(envs, "make_env", no_env)
    monkeypatch.setattr("zeroplan.muzero.agent.make_env", no_env)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    again = zeroplan.load(tmp_path / "agent")
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    assert again.runner is None and again.spec == agent.spec
    assert again.predict(np.zeros(4, np.float32)) in (0, 1)


def test_evaluate_plays_both_sides_of_a_two_player_game(tmp_path):
    agent = zeroplan.MuZero("tictactoe", set=TINY, tensorboard=False)
    agent.save(tmp_path / "agent")
    loaded = zeroplan.load(tmp_path / "agent")
    result = loaded.evaluate(6, seed=1, opponent="random")
    assert set(result) == {"first", "second", "opponent"} and result["opponent"] == "random"
    assert all(sum(result[side].values()) == 6 for side in ("first", "second"))
    assert loaded.evaluate(6, seed=1, opponent="random") == result  # the same seed plays the same games
    openings = loaded.evaluate(1, seed=1, opponent="random", openings=1)
    assert openings["openings"] == {"plies": 1, "count": 9}
    assert sum(openings["first"].values()) == 9


def test_two_player_evaluation_sees_stacked_frames():
    """A net trained on two stacked frames gets two in evaluation against an opponent too."""
    agent = zeroplan.MuZero("tictactoe", set=TINY + ["replay.stack_frames=2"], tensorboard=False)
    seen = []
    initial = agent.model.initial

    def spy(obs):
        seen.append(obs.shape)
        return initial(obs)

    agent.model.initial = spy
    result = agent.evaluate(2, seed=0, opponent="random")
    assert sum(result["first"].values()) == 2
    assert seen and all(shape[1:] == agent.net_obs_shape() for shape in seen)


def test_every_registered_algorithm_offers_the_agent_surface():
    from zeroplan.agents import ALGORITHMS

    for entry in ALGORITHMS.values():
        cls = entry.agent_class()
        for name in ("config_for", "resume", "load", "learn", "predict", "evaluate", "save", "summary", "close"):
            assert callable(getattr(cls, name, None)), f"{entry.name}: {name}"
    assert zeroplan.PETS("Pendulum-v1", tensorboard=False).notes == []
