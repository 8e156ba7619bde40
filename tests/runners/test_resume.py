"""Resuming a run: the resumed run continues exactly as the uninterrupted one,
faults save the state before them, and nothing overwrites a saved run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from zeroplan.config import ConfigError, load_config
from zeroplan.envs.gym import EnvError
from zeroplan.io.checkpoint import Checkpoint
from zeroplan.runners.local import LocalRunner, RunDirError, TrainingDiverged
from tests.helpers import Chain, small_config
from tests.helpers import CARTPOLE

TICTACTOE = ["search.num_simulations=6", "train.num_envs=4", "train.min_replay_size=32", "replay.batch_size=16",
             "net.hidden=[32]", "net.latent_dim=16", "run.eval_interval=64", "run.eval_episodes=2",
             "run.log_interval=32", "run.eval_opponent=random", "train.lr_schedule=cosine",
             "train.lr_decay_steps=100"]


def record(runner: LocalRunner) -> list:
    seen = []
    runner.train_hook = lambda batch, metrics: seen.append(
        (batch.obs.copy(), batch.actions.copy(), batch.target_values.copy(), batch.target_policies.copy(),
         metrics["loss"]))
    return seen


# EfficientZero's parts, all on: the consistency loss (its heads, the later observations), the age-shrunk
# horizon and the value prefix (an LSTM, searched with the torch engine).
EFFICIENTZERO = ["train.consistency_weight=2", "net.projection_dim=16", "replay.td_shrink_every=40",
                 "net.value_prefix=true", "net.value_prefix_hidden=8", "net.value_prefix_horizon=3"]
CONV = ["net.kind=resnet", "net.channels=8", "net.blocks=1", "replay.augment_symmetries=true"]
# AlphaZero: the searches step copies of the real game; with playout-cap randomisation (fast searches drawn).
RULES = ["search.model=rules", "replay.unroll_steps=0", "replay.td_steps=9", "train.full_search_fraction=0.5",
         "train.fast_simulations=2"]
# Sampled MuZero over continuous actions, with reanalyse rewriting stored samples.
SAMPLED = ["env.max_episode_steps=30", "search.num_simulations=6", "search.sampled_actions=4", "train.num_envs=4",
           "train.min_replay_size=32", "replay.batch_size=16", "net.hidden=[32]", "net.latent_dim=16",
           "run.eval_interval=64", "run.eval_episodes=1", "run.log_interval=32", "train.reanalyse_fraction=0.5",
           "train.policy_entropy_weight=0.01", "search.sample_temperature=2", "run.stop_at_return=null"]
# Stochastic MuZero: chance nodes in the search, the encoder's later observations in replay, bootstrapping
# through the afterstates' Q (max_q), on the slippery lake and with reanalyse on CartPole.
CHANCE = ["net.chance_codes=3", "train.reanalyse_fraction=0.5", "replay.unroll_steps=2"]
# Long episodes enter replay in pieces; a segment's first states are frames of the one before.
SEGMENTS = ["replay.segment_length=12", "replay.td_steps=5", "replay.unroll_steps=3", "replay.stack_frames=2"]
FROZEN_CHANCE = ["train.num_envs=4", "train.min_replay_size=32", "replay.batch_size=16", "net.hidden=[32]",
                 "net.latent_dim=16", "run.eval_interval=64", "run.eval_episodes=2", "run.log_interval=32",
                 "run.max_minutes=null"]


@pytest.mark.parametrize("env,sets,split,total", [("cartpole", CARTPOLE, 148, 260),
                                                   ("tictactoe", TICTACTOE, 92, 180),
                                                   ("cartpole", CARTPOLE + EFFICIENTZERO, 148, 260),
                                                   ("tictactoe", TICTACTOE + EFFICIENTZERO + CONV, 92, 180),
                                                   ("tictactoe", TICTACTOE + RULES, 92, 180),
                                                   ("pendulum", SAMPLED, 100, 200),
                                                   ("pendulum", SAMPLED + ["search.policy=puct"], 100, 200),
                                                   ("cartpole", CARTPOLE + ["search.sampled_actions=3"], 148, 260),
                                                   ("cartpole", CARTPOLE + CHANCE, 148, 260),
                                                   ("frozenlake-chance", FROZEN_CHANCE, 100, 200),
                                                   # episodes in replay in segments, cut mid-episode by the split
                                                   ("cartpole", CARTPOLE + SEGMENTS, 148, 260)])
def test_resumed_run_equals_uninterrupted_run(tmp_path, env, sets, split, total):
    config = load_config(env, dotted=sets)
    a = LocalRunner(config, tmp_path / "a", tensorboard=False)
    a.train(max_env_steps=split)  # ends with checkpoints/last, mid-episode in some environments
    assert any(len(b) > 0 for b in a.selfplay.builders)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    seen_a = record(a)
    a.train(max_env_steps=total)  # the uninterrupted run from that checkpoint

    # Scramble every global RNG: the resumed run must not depend on them.
    np.random.seed(123), torch.manual_seed(123)
    b = LocalRunner.resume(tmp_path / "b", tensorboard=False)
    assert (b.result.env_steps, b.result.train_steps) == (split, a.result.train_steps - len(seen_a))
    seen_b = record(b)
    b.train(max_env_steps=total)

    assert len(seen_a) > 10 and len(seen_a) == len(seen_b)
    for x, y in zip(seen_a, seen_b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    for k, v in a.net.state_dict().items():
        assert torch.equal(v, b.net.state_dict()[k]), k
    assert (a.result.env_steps, a.result.train_steps) == (b.result.env_steps, b.result.train_steps)
    keys = ("env_steps", "train_steps", "mean_return")  # wall-clock fields aside
    assert [[e[k] for k in keys] for e in a.result.evals] == [[e[k] for k in keys] for e in b.result.evals]


def test_resume_validates_before_writing(tmp_path):
    config = load_config("cartpole", dotted=CARTPOLE)
    run = tmp_path / "run"
    LocalRunner(config, run, tensorboard=False).train(max_env_steps=64)
    with pytest.raises(RunDirError, match="already holds a run"):
        LocalRunner(config, run, tensorboard=False)
    with pytest.raises(ConfigError, match="only run"):
        LocalRunner.resume(run, {"search": {"num_simulations": 3}}, tensorboard=False)
    with pytest.raises(RunDirError, match="no such run directory"):
        LocalRunner.resume(tmp_path / "nope")
    runner = LocalRunner.resume(run, {"run": {"max_env_steps": 128}}, tensorboard=False)
    assert runner.train().env_steps == 128
    assert Checkpoint(run / "checkpoints" / "last").manifest["env_steps"] == 128


class FaultyChain(Chain):
    """Raises on its 30th step in all, or returns NaN there."""

    steps = 0
    mode = "raise"

    def step(self, action):
        FaultyChain.steps += 1
        obs, reward, terminated, truncated = super().step(action)
        if FaultyChain.steps == 30:
            if self.mode == "raise":
                raise RuntimeError("sensor unplugged")
            obs = obs * np.nan
        return obs, reward, terminated, truncated


@pytest.mark.parametrize("mode,message", [("raise", "raised RuntimeError: sensor unplugged"),
                                          ("nan", "non-finite observation")])
def test_env_fault_saves_the_state_before_it(tmp_path, mode, message):
    FaultyChain.steps, FaultyChain.mode = 0, mode
    config = small_config("gumbel", **{"train.min_replay_size": 8})
    runner = LocalRunner(config, tmp_path, env_factory=FaultyChain, tensorboard=False)
    with pytest.raises(EnvError, match=message) as err:
        runner.train()
    assert "episode step" in str(err.value) and "--resume" in str(err.value)
    ckpt = Checkpoint(tmp_path / "checkpoints" / "last")
    assert ckpt.manifest["env_steps"] == 24  # three whole lockstep moves of 8 envs; the fourth is undone
    resumed = LocalRunner.resume(tmp_path, {"run": {"max_env_steps": 64}}, env_factory=Chain, tensorboard=False)
    assert resumed.train().env_steps == 64


def test_persistent_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    config = small_config("gumbel", **{"train.max_consecutive_skips": 5, "run.stop_at_return": "null"})
    runner = LocalRunner(config, tmp_path, env_factory=Chain, tensorboard=False)
    runner.train(max_env_steps=160)
    before = (tmp_path / "checkpoints" / "last" / "manifest.json").read_bytes()
    losses = runner.learner.losses
    runner.learner.losses = lambda batch: (losses(batch)[0] * np.nan, *losses(batch)[1:])
    with pytest.raises(TrainingDiverged, match="5 updates in a row"):
        runner.train(max_env_steps=400)
    assert runner.learner.skipped_updates == 5
    assert (tmp_path / "checkpoints" / "last" / "manifest.json").read_bytes() == before


def test_metrics_continue_without_duplicates(tmp_path):
    config = load_config("cartpole", dotted=CARTPOLE)
    LocalRunner(config, tmp_path, tensorboard=True).train(max_env_steps=128)
    runner = LocalRunner.resume(tmp_path, {"run": {"max_env_steps": 256}})
    runner.train()
    runner.close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    steps = [int(r[header.index("env_steps")]) for r in rows if r[header.index("time/fps")]]
    assert steps == sorted(set(steps)) and steps[0] <= 128 < steps[-1]
    assert len(list((tmp_path / "tb").iterdir())) == 2  # one event file per session, same run directory
    state = json.loads((tmp_path / "checkpoints" / "last" / "state.json").read_text())
    assert state["runner"]["result"]["env_steps"] == 256


def test_best_checkpoint_goes_to_the_newer_of_equal_evaluations(tmp_path):
    """All evaluations tied (a board game lost every time, say): `best` is the
    most trained of them, not the first."""
    runner = LocalRunner(load_config("cartpole", dotted=CARTPOLE), tmp_path / "run", tensorboard=False)
    for steps, mean in [(100, -1.0), (200, -1.0), (300, -2.0)]:
        runner.result.env_steps = steps
        runner.shell.record_eval({"eval/mean_reward": mean}, {"env_steps": steps, "mean_return": mean}, None)
    runner.close()
    assert Checkpoint(tmp_path / "run" / "checkpoints" / "best").manifest["env_steps"] == 200


def test_updates_a_stop_cut_short_are_done_first_on_the_next_call(tmp_path):
    """Updates on large images can take seconds each: a stop does not wait for all those due, and the
    next training call (a resumed run's too) does the rest before anything else."""
    runner = LocalRunner(load_config("cartpole", dotted=CARTPOLE), tmp_path / "a", tensorboard=False)
    runner.train(max_env_steps=148)
    done = runner.result.train_steps
    runner.ratio.steps_at_first_training -= 5 / runner.ratio.ratio  # five more updates are now due

    class StopAfter:
        def __init__(self, calls):
            self.calls = calls

        def should_stop(self):
            self.calls -= 1
            return self.calls < 0

    runner._updates_due(StopAfter(2))
    assert runner.result.train_steps == done + 2
    runner._updates_due(StopAfter(100))
    assert runner.result.train_steps == done + 5
