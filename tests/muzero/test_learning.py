"""Integration: the whole loop learns a tiny deterministic environment in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import load_config
from zeroplan.envs.spec import EnvSpec
from zeroplan.runners.local import LocalRunner


class Chain:
    """Five states in a row; start in the middle. Right end: reward 1, left end:
    reward 0; either ends the episode; 8 steps at most."""

    spec = EnvSpec(obs_shape=(5,), num_actions=2, num_players=1, name="chain")

    def reset(self, seed=None):
        self.pos, self.t = 2, 0
        return self._obs()

    def _obs(self):
        o = np.zeros(5, np.float32)
        o[self.pos] = 1
        return o

    def step(self, action):
        self.pos += 1 if action == 1 else -1
        self.t += 1
        reward = 1.0 if self.pos == 4 else 0.0
        return self._obs(), reward, self.pos in (0, 4), self.t >= 8

    def legal_mask(self):
        return np.ones(2, bool)

    def to_play(self):
        return 0


def small_config(policy: str, seed: int = 0, **extra):
    sets = [f"search.policy={policy}", "search.num_simulations=8", "search.discount=0.9",
            "net.hidden=[32]", "net.latent_dim=16", "net.support_size=3", "replay.batch_size=32",
            "replay.unroll_steps=3", "replay.td_steps=5", "train.num_envs=8", "train.min_replay_size=64",
            "train.replay_ratio=0.5", "train.lr=0.01", "run.eval_interval=200", "run.eval_episodes=8",
            "run.stop_at_return=1.0", f"run.seed={seed}", "run.max_env_steps=2400", "env.id=chain"]
    return load_config(None, dotted=sets + [f"{k}={v}" for k, v in extra.items()])


@pytest.mark.parametrize("policy", ["gumbel", "puct"])
def test_learns_the_chain(policy):
    runner = LocalRunner(small_config(policy), run_dir=None, env_factory=Chain)
    result = runner.train()
    assert result.solved_at is not None, result.evals
    assert runner.evaluate(8) == 1.0


def test_same_seed_same_run(tmp_path):
    def run():
        runner = LocalRunner(small_config("gumbel", **{"run.stop_at_return": "null", "run.max_env_steps": 400}),
                             run_dir=None, env_factory=Chain)
        runner.train()
        return runner.result.train_steps, [e["mean_return"] for e in runner.result.evals], \
            [p.detach().clone() for p in runner.net.parameters()]

    a, b = run(), run()
    assert a[0] == b[0] and a[1] == b[1]
    assert all((x == y).all() for x, y in zip(a[2], b[2]))
