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
