"""Small helpers the tests share (test modules do not import each other)."""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np

from zeroplan import cli
from zeroplan.config import load_config
from zeroplan.envs.spec import EnvSpec, Symmetry
from zeroplan.muzero.episode import Episode

# A few hundred env steps of CartPole with every part of the loop switched on (reanalyse, target network).
CARTPOLE = ["search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=48", "replay.batch_size=16",
            "net.hidden=[32]", "net.latent_dim=16", "env.max_episode_steps=60", "run.eval_interval=96",
            "run.eval_episodes=2", "run.log_interval=32", "train.reanalyse_fraction=0.5", "train.replay_ratio=0.5",
            "train.target_update_interval=5", "replay.capacity=300"]

# The command line's settings for a quick run.
QUICK = ["--set", "run.max_env_steps=160", "--set", "train.min_replay_size=32", "--set", "run.eval_interval=64",
         "--set", "run.eval_episodes=2", "--set", "search.num_simulations=4", "--set", "train.num_envs=4",
         "--set", "env.max_episode_steps=30", "--set", "run.log_interval=32", "--no-progress"]


def run_cli(*args: str) -> tuple[int, str]:
    """`zeroplan ARGS...` in this process: (exit status, stderr)."""
    code, _, err = run_cli_out(*args)
    return code, err


def run_cli_out(*args: str) -> tuple[int, str, str]:
    """`zeroplan ARGS...` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["zeroplan", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                cli.main()
                code = 0
            except SystemExit as e:
                code = e.code
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


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


def episode(rewards, values, to_play=None, terminated=True, num_actions=2):
    t = len(rewards)
    return Episode(
        obs=np.arange(t + 1, dtype=np.float32)[:, None],  # obs[i] = [i], so a batch shows which state it holds
        actions=np.arange(t, dtype=np.int64) % num_actions,
        rewards=np.asarray(rewards, dtype=np.float32),
        to_play=np.zeros(t + 1, dtype=np.int8) if to_play is None else np.asarray(to_play, dtype=np.int8),
        legal_masks=np.ones((t + 1, num_actions), bool),
        root_values=np.asarray(values, dtype=np.float32),
        policy_targets=np.tile(np.array([0.25, 0.75], np.float32), (t + 1, 1)),
        terminated=terminated,
    )


def assert_commutes(game, sym: Symmetry, games: int = 150, seed: int = 0) -> None:
    """Mapped moves in a transformed game give the transformed observations, legal
    moves and the same rewards, move by move, over random games."""
    rng = np.random.default_rng(seed)
    for episode in range(games):
        a, b = game(), game()
        obs_a, obs_b = a.reset(seed=episode), b.reset(seed=episode)
        done = False
        while True:
            np.testing.assert_array_equal(obs_b.reshape(-1), obs_a.reshape(-1)[sym.obs_index])
            np.testing.assert_array_equal(b.legal_mask(), a.legal_mask()[sym.inverse_actions])
            assert a.to_play() == b.to_play()
            if done:
                break
            move = int(rng.choice(np.flatnonzero(a.legal_mask())))
            obs_a, reward_a, term_a, trunc_a = a.step(move)
            obs_b, reward_b, term_b, trunc_b = b.step(int(sym.action_map[move]))
            assert (reward_a, term_a, trunc_a) == (reward_b, term_b, trunc_b)
            done = term_a or trunc_a
