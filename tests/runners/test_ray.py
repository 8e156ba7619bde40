"""The Ray backend on a local Ray with two CPUs: same run-directory layout as
the local runner, survives a killed self-play actor, resumes across backends."""

from __future__ import annotations

import os

import numpy as np
import pytest
import ray
import torch

from zeroplan.config import load_config
from zeroplan.io.checkpoint import Checkpoint
from zeroplan.muzero.agent import MuZero
from zeroplan.runners.local import LocalRunner
from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.runners.ray import EVALUATOR_NICENESS, EvaluatorActor, RayRunner, RunFault, _load, _weights, init_ray

pytestmark = pytest.mark.slow  # Ray actors: a local Ray per module and real training

SETS = ["search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=48", "replay.batch_size=16",
        "net.hidden=[32]", "net.latent_dim=16", "env.max_episode_steps=60", "run.eval_interval=256",
        "run.eval_episodes=2", "run.log_interval=64", "train.target_update_interval=20"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    init_ray(None, num_cpus=2)
    yield
    ray.shutdown()


def layout(run) -> set[str]:
    names = {p.relative_to(run).as_posix() for p in run.rglob("*") if "tb" not in p.parts}
    return {n for n in names if not n.startswith("checkpoints/best/")}


def test_ray_run_writes_the_local_layout_and_resumes_locally(tmp_path):
    config = load_config("cartpole", dotted=SETS)
    local = LocalRunner(config, tmp_path / "local", tensorboard=True)
    local.train(max_env_steps=512)
    local.close()

    shell = LocalRunner(config, tmp_path / "ray", tensorboard=True)
    runner = RayRunner(shell, num_workers=2)
    result = runner.train(max_env_steps=512)
    runner.shutdown()
    shell.close()
    assert result.env_steps >= 512 and result.train_steps > 0 and result.evals
    assert layout(tmp_path / "ray") == layout(tmp_path / "local")
    ckpt = Checkpoint(tmp_path / "ray" / "checkpoints" / "last")
    assert ckpt.manifest["env_steps"] == result.env_steps and ckpt.manifest["train_steps"] == result.train_steps

    resumed = LocalRunner.resume(tmp_path / "ray", {"run": {"max_env_steps": result.env_steps + 64}},
                                 tensorboard=False)
    assert resumed.replay.total_added > 0  # the replay actor's contents came back
    assert resumed.train().env_steps >= result.env_steps + 64


def test_killed_selfplay_actor_is_restarted_and_the_run_finishes(tmp_path):
    config = load_config("cartpole", dotted=SETS)
    shell = LocalRunner(config, tmp_path, tensorboard=False)
    runner = RayRunner(shell, num_workers=2)
    killed = []

    def kill_once(metrics):
        if not killed and metrics["env_steps"] >= 128:
            ray.kill(runner.workers[0], no_restart=False)
            killed.append(metrics["env_steps"])

    result = runner.train(max_env_steps=640, progress=kill_once)
    runner.shutdown()
    assert killed and runner.restarts >= 1
    assert result.env_steps >= 640


def test_local_run_resumes_on_ray_and_a_dead_learner_ends_cleanly(tmp_path):
    config = load_config("cartpole", dotted=SETS)
    LocalRunner(config, tmp_path, tensorboard=False).train(max_env_steps=256)
    agent = MuZero.resume(tmp_path, {"run": {"max_env_steps": 512}}, tensorboard=False)
    assert agent.runner.result.env_steps == 256
    result = agent.learn(backend="ray", num_workers=1)
    assert result.env_steps >= 512
    assert Checkpoint(tmp_path / "checkpoints" / "last").manifest["env_steps"] == result.env_steps

    before = (tmp_path / "checkpoints" / "last" / "manifest.json").read_bytes()
    shell = LocalRunner.resume(tmp_path, {"run": {"max_env_steps": 4096}}, tensorboard=False)
    runner = RayRunner(shell, num_workers=1)

    def kill_learner(metrics):
        ray.kill(runner.learner, no_restart=True)

    with pytest.raises(RunFault, match="learner actor died"):
        runner.train(progress=kill_learner)
    runner.shutdown()
    assert (tmp_path / "checkpoints" / "last" / "manifest.json").read_bytes() == before
    assert Checkpoint(tmp_path / "checkpoints" / "last").manifest["env_steps"] == result.env_steps


def test_no_evaluation_point_is_skipped(tmp_path):
    """Evaluations slower than the self-play between two points (8 episodes of
    up to 60 moves every 64 env steps): self-play waits for the evaluator, so
    every multiple of run.eval_interval gets its evaluation, as on the local runner."""
    sets = [s for s in SETS if not s.startswith(("run.eval_interval", "run.eval_episodes"))]
    config = load_config("cartpole", dotted=sets + ["run.eval_interval=64", "run.eval_episodes=8"])
    shell = LocalRunner(config, tmp_path / "ray", tensorboard=False)
    runner = RayRunner(shell, num_workers=1)
    result = runner.train(max_env_steps=1024)
    runner.shutdown()
    shell.close()
    points = [e["env_steps"] // 64 for e in result.evals]
    assert len(points) >= 8
    assert points == list(range(points[0], points[0] + len(points))), points


@pytest.mark.parametrize("extra", [[], ["train.consistency_weight=1", "replay.td_shrink_every=50"]])
def test_replay_actor_batches_are_the_local_runners_draws(extra):
    """The replay actor (as a plain object here) hands out several batches per
    call: the same batches, in the same order, as that many draws in the local
    runner (with EfficientZero's later observations and age-shrunk targets too)."""
    import numpy as np

    from zeroplan.muzero.reanalyze import Reanalyze
    from zeroplan.runners.ray import ReplayActor

    config = load_config("cartpole", dotted=SETS + ["train.target_update_interval=0"] + extra)
    shell = LocalRunner(config, None, tensorboard=False)
    actor = ReplayActor(config, shell.spec.obs_shape, shell.spec.num_actions, 1, seed=5)
    while len(shell.replay) < 200:
        for ep in shell.selfplay.step(shell.model, 1.0):
            shell.replay.add(ep)
            actor.add([ep.arrays()])
    batches = actor.sample(16, 3)
    rng = np.random.default_rng(5 + 1)  # the actor's sampling rng
    assert len(batches) == 3
    for got in batches:
        want = Reanalyze(config, 1, seed=0).batch(shell.replay, 16, rng)
        for name in ("obs", "actions", "target_values", "target_policies", "slots", "next_obs", "next_obs_mask"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_weights_travel_as_numpy_arrays_and_load_back_exactly(kind):
    """Actors exchange weights as numpy arrays (read-only when they come out of
    Ray's object store); every tensor, BatchNorm's integer counter included,
    loads back bit for bit."""
    torch.manual_seed(0)
    src = MuZeroNet((3, 4, 4), 4, kind=kind, channels=4, blocks=1, hidden=(8,), latent_dim=8)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p))
    for buf in src.buffers():
        buf.add_(3)
    arrays = _weights(src)
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    for a in arrays.values():
        a.setflags(write=False)
    dst = MuZeroNet((3, 4, 4), 4, kind=kind, channels=4, blocks=1, hidden=(8,), latent_dim=8)
    _load(dst, arrays)
    for (name, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    with torch.no_grad():  # the arrays are copies: later updates of the source do not reach them
        next(iter(src.parameters())).add_(1.0)
    name, array = next(iter(arrays.items()))
    assert torch.equal(torch.from_numpy(np.array(array)), dst.state_dict()[name])


def test_frequent_checkpoints_keep_the_learner_at_the_replay_ratio(tmp_path):
    """A checkpoint waits for the learner's queued tasks to end; with one due at
    every turn of the loop, training still keeps to the replay ratio."""
    config = load_config("cartpole", dotted=SETS + ["run.checkpoint_seconds=0.000001"])
    shell = LocalRunner(config, tmp_path, tensorboard=False)
    runner = RayRunner(shell, num_workers=1)
    result = runner.train(max_env_steps=512)
    runner.shutdown()
    ratio, warmup = config.train.replay_ratio, config.train.min_replay_size
    assert result.train_steps >= 0.8 * ratio * (result.env_steps - warmup)
    manifest = Checkpoint(tmp_path / "checkpoints" / "last").manifest
    assert (manifest["env_steps"], manifest["train_steps"]) == (result.env_steps, result.train_steps)


def test_a_local_ray_runs_actors_at_the_drivers_priority_and_the_evaluator_below():
    """Ray's default worker niceness (+15) put the learner behind the driver and
    Ray's daemons for the CPU; the local Ray started here does not."""
    @ray.remote(num_cpus=0)
    def niceness():
        return os.nice(0)

    driver = os.nice(0)
    assert ray.get(niceness.remote()) == driver
    config = load_config("cartpole", dotted=SETS)
    evaluator = ray.remote(EvaluatorActor).options(num_cpus=0).remote(config, None, (4,), 2, 1)
    assert ray.get(evaluator.__ray_call__.remote(lambda self: os.nice(0))) == min(driver + EVALUATOR_NICENESS, 19)
    ray.kill(evaluator)


def _faulty_cartpole(marker, always: bool):
    """CartPole whose step 20 raises: once in all (a marker file remembers it
    across processes), or every time. Defined inside a function so that Ray
    ships it by value to its workers."""
    from zeroplan.config import EnvConfig
    from zeroplan.envs import make_env

    class Faulty:
        def __init__(self):
            self.env = make_env(EnvConfig(id="CartPole-v1", max_episode_steps=60))
            self.spec, self.steps = self.env.spec, 0

        def reset(self, seed=None):
            return self.env.reset(seed=seed)

        def step(self, action):
            self.steps += 1
            if self.steps == 20 and (always or not marker.exists()):
                marker.touch()
                raise RuntimeError("the simulator fell over")
            return self.env.step(action)

        def legal_mask(self):
            return self.env.legal_mask()

        def to_play(self):
            return 0

    return Faulty


def test_an_environment_error_in_a_selfplay_actor_restarts_it_or_stops_the_run_named(tmp_path):
    from zeroplan.envs.gym import EnvError

    config = load_config("cartpole", dotted=SETS + ["run.eval_interval=100000"])
    once = _faulty_cartpole(tmp_path / "fell", always=False)
    shell = LocalRunner(config, tmp_path / "once", env_factory=once, tensorboard=False)
    runner = RayRunner(shell, num_workers=1, env_factory=once)
    result = runner.train(max_env_steps=256)
    assert (tmp_path / "fell").exists() and runner.restarts >= 1  # it fell over, was restarted, and went on
    assert result.env_steps >= 256
    runner.shutdown()

    always = _faulty_cartpole(tmp_path / "fell_again", always=True)
    shell = LocalRunner(config, tmp_path / "always", env_factory=always, tensorboard=False)
    runner = RayRunner(shell, num_workers=1, env_factory=always)
    with pytest.raises(EnvError, match="3 environment errors within 10 minutes.*the simulator fell over.*"
                                       "resume with"):
        runner.train(max_env_steps=100_000)
    runner.shutdown()
    Checkpoint(tmp_path / "always" / "checkpoints" / "last")  # saved before it stopped
