"""Model-free baselines from Stable-Baselines3, trained and evaluated the way
`zeroplan compare` evaluates every algorithm.

Settings come from rl-baselines3-zoo's tuned hyperparameter files where the
zoo has an entry for the env (only entries that need no observation
normalisation or wrappers); otherwise Stable-Baselines3's defaults. Which of
the two was used is part of every result (`settings`).

MinAtar games (10x10 boolean planes) get the MinAtar paper's network (Young
& Tian 2019: one 3x3 convolution of 16 filters, stride 1, then 128 units),
its DQN settings, and rl-zoo's Atari PPO settings, with the planes handed
over channel-first as float32.

Stable-Baselines3 is an optional extra (`pip install 'zeroplan[baselines]'`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from zeroplan.config import EnvConfig

SB3_ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
DISCRETE_ONLY = ("dqn",)
CONTINUOUS_ONLY = ("sac", "td3")


def _lin(start: float) -> tuple[str, float]:
    return ("lin", start)


# rl-baselines3-zoo (hyperparams/*.yml): settings of the tuned entries, by algorithm and env id.
# LunarLander's entries were tuned on -v2; -v3 differs only in bug fixes to the physics.
_LUNAR_PPO = {"n_envs": 16, "n_steps": 1024, "batch_size": 64, "gae_lambda": 0.98, "gamma": 0.999, "n_epochs": 4,
              "ent_coef": 0.01}
_LUNAR_DQN = {"learning_rate": 8.8e-4, "batch_size": 32, "buffer_size": 1_000_000, "learning_starts": 0,
              "gamma": 0.99, "target_update_interval": 10_000, "train_freq": 16, "gradient_steps": -1,
              "exploration_fraction": 0.2, "exploration_final_eps": 0.1, "policy_kwargs": {"net_arch": [256, 256]}}
RL_ZOO: dict[tuple[str, str], dict[str, Any]] = {
    ("ppo", "CartPole-v1"): {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98,
                             "n_epochs": 20, "ent_coef": 0.0, "learning_rate": _lin(1e-3), "clip_range": _lin(0.2)},
    ("dqn", "CartPole-v1"): {"learning_rate": 2.5e-4, "batch_size": 512, "buffer_size": 100_000, "learning_starts": 0,
                             "gamma": 0.99, "target_update_interval": 5000, "train_freq": 16, "gradient_steps": 4,
                             "exploration_fraction": 0.06, "exploration_final_eps": 0.11},
    ("dqn", "Acrobot-v1"): {"learning_rate": 2.5e-4, "batch_size": 512, "buffer_size": 100_000, "learning_starts": 0,
                            "gamma": 0.99, "target_update_interval": 5000, "train_freq": 16, "gradient_steps": 4,
                            "exploration_fraction": 0.06, "exploration_final_eps": 0.11},
    ("dqn", "MountainCar-v0"): {"learning_rate": 4e-3, "batch_size": 128, "buffer_size": 10_000,
                                "learning_starts": 1000, "gamma": 0.98, "target_update_interval": 5000,
                                "train_freq": 16, "gradient_steps": 8, "exploration_fraction": 0.2,
                                "exploration_final_eps": 0.07, "policy_kwargs": {"net_arch": [256, 256]}},
    ("ppo", "LunarLander-v2"): _LUNAR_PPO, ("ppo", "LunarLander-v3"): _LUNAR_PPO,
    ("dqn", "LunarLander-v2"): _LUNAR_DQN, ("dqn", "LunarLander-v3"): _LUNAR_DQN,
    ("ppo", "Pendulum-v1"): {"n_envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10,
                             "ent_coef": 0.0, "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True,
                             "sde_sample_freq": 4},
    ("sac", "Pendulum-v1"): {"learning_rate": 1e-3},
    # the zoo's MuJoCo entry (HalfCheetah-v3 and its siblings): SB3's defaults after 10,000 random steps
    ("sac", "HalfCheetah-v5"): {"learning_starts": 10_000},
}

# MinAtar (any of its -v1 ids). DQN: the MinAtar paper's settings (replay 100k, batch 32, a target update every
# 1,000 steps, training every step after 5,000, epsilon 1 -> 0.1 over the first 100k of its 5M frames, lr 2.5e-4;
# SB3's Adam where the paper used RMSprop). PPO: rl-zoo's Atari entry (8 envs, 128 steps, 4 epochs, batch 256,
# linear lr 2.5e-4 and clip 0.1, entropy 0.01) over its 10M steps. Both with the paper's small CNN.
MINATAR = {
    "dqn": {"learning_rate": 2.5e-4, "batch_size": 32, "buffer_size": 100_000, "learning_starts": 5000,
            "gamma": 0.99, "target_update_interval": 1000, "train_freq": 1, "gradient_steps": 1,
            "exploration_initial_eps": 1.0, "exploration_fraction": 0.02, "exploration_final_eps": 0.1},
    "ppo": {"n_envs": 8, "n_steps": 128, "n_epochs": 4, "batch_size": 256, "learning_rate": _lin(2.5e-4),
            "clip_range": _lin(0.1), "vf_coef": 0.5, "ent_coef": 0.01},
}
MINATAR_STEPS = {"dqn": 5_000_000, "ppo": 10_000_000}


def _is_minatar(env_id: str) -> bool:
    return env_id.startswith("MinAtar/")


# The zoo's training lengths (n_timesteps): schedules (linear learning rates, DQN's exploration) are laid out
# over them, as the zoo tuned them, and a shorter comparison stops part-way.
RL_ZOO_STEPS = {("ppo", "CartPole-v1"): 100_000, ("dqn", "CartPole-v1"): 200_000, ("dqn", "Acrobot-v1"): 150_000,
                ("dqn", "MountainCar-v0"): 120_000, ("ppo", "LunarLander-v2"): 1_000_000,
                ("ppo", "LunarLander-v3"): 1_000_000, ("dqn", "LunarLander-v2"): 150_000,
                ("dqn", "LunarLander-v3"): 150_000, ("ppo", "Pendulum-v1"): 100_000, ("sac", "Pendulum-v1"): 20_000,
                ("sac", "HalfCheetah-v5"): 1_000_000}


class BaselineError(ValueError):
    """A baseline that cannot run as asked (a missing extra, an action space it cannot act in)."""


@dataclass
class Protocol:
    """How every algorithm of a comparison is evaluated: `episodes` episodes
    without exploration every `interval` env steps, on the same environment."""

    interval: int
    episodes: int


def settings(algo: str, env_id: str) -> tuple[dict[str, Any], str]:
    """(keyword settings, where they come from: "rl-zoo", "SB3 defaults", or
    for MinAtar "MinAtar paper" / "rl-zoo Atari")."""
    if _is_minatar(env_id) and algo in MINATAR:
        return dict(MINATAR[algo]), "MinAtar paper" if algo == "dqn" else "rl-zoo Atari"
    entry = RL_ZOO.get((algo, env_id))
    return (dict(entry), "rl-zoo") if entry is not None else ({}, "SB3 defaults")


def check_algo(algo: str, discrete: bool) -> None:
    if algo not in SB3_ALGOS:
        raise BaselineError(f"unknown baseline {algo!r}; Stable-Baselines3 algorithms here: {', '.join(SB3_ALGOS)}")
    if discrete and algo in CONTINUOUS_ONLY:
        raise BaselineError(f"{algo} acts in continuous (Box) action spaces; this env's actions are discrete")
    if not discrete and algo in DISCRETE_ONLY:
        raise BaselineError(f"{algo} acts in discrete action spaces; this env's actions are continuous")


def sb3():
    try:
        import stable_baselines3
    except ImportError:
        raise BaselineError("the model-free baselines need Stable-Baselines3: pip install 'zeroplan[baselines]'") \
            from None
    return stable_baselines3


def gym_env_factory(env: EnvConfig, episode_limit: int) -> Callable[[], Any]:
    """Plain Gymnasium environments of `env` (a registered id or a user's
    `module:Name` Gymnasium class), capped at `episode_limit` steps when the
    env sets no limit of its own."""
    import gymnasium

    from zeroplan.envs.gym import EnvError, make_gym
    from zeroplan.envs.user import is_user_env, resolve

    def make():
        if is_user_env(env.id):
            made = resolve(env.id)(**env.kwargs)
            if not isinstance(made, gymnasium.Env):
                raise EnvError(f"{env.id}: the baselines need a gymnasium.Env, got {type(made).__name__}")
        else:
            made = make_gym(env.id, env.max_episode_steps, env.kwargs)
        if env.max_episode_steps is not None and is_user_env(env.id):
            made = gymnasium.wrappers.TimeLimit(made, env.max_episode_steps)
        elif made.spec is None or made.spec.max_episode_steps is None:
            made = gymnasium.wrappers.TimeLimit(made, episode_limit)
        return _planes_first(made)

    return make


def _planes_first(env):
    """Boolean planes (H, W, C), as MinAtar gives them, as float32 (C, H, W) for a torch CNN."""
    import gymnasium

    space = env.observation_space
    if not (isinstance(space, gymnasium.spaces.Box) and space.dtype == np.bool_ and len(space.shape) == 3):
        return env
    h, w, c = space.shape
    planes = gymnasium.spaces.Box(0.0, 1.0, (c, h, w), np.float32)
    return gymnasium.wrappers.TransformObservation(
        env, lambda obs: np.ascontiguousarray(np.transpose(obs, (2, 0, 1)), dtype=np.float32), planes)


def _small_cnn_kwargs() -> dict[str, Any]:
    """policy_kwargs for the MinAtar paper's network: conv 3x3 x16, ReLU, then 128 units."""
    import torch
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class SmallCNN(BaseFeaturesExtractor):
        def __init__(self, observation_space, features_dim: int = 128):
            super().__init__(observation_space, features_dim)
            c, h, w = observation_space.shape
            self.net = torch.nn.Sequential(torch.nn.Conv2d(c, 16, 3, stride=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                           torch.nn.Linear(16 * (h - 2) * (w - 2), features_dim), torch.nn.ReLU())

        def forward(self, obs):
            return self.net(obs)

    return {"features_extractor_class": SmallCNN, "net_arch": [], "normalize_images": False}


def evaluate_policy(predict: Callable[[np.ndarray], Any], make_env: Callable[[], Any], episodes: int,
                    seed: int) -> float:
    """Mean return of `predict` over `episodes` episodes seeded seed, seed+1, ..."""
    env = make_env()
    returns = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(predict(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return float(np.mean(returns))


def train_baseline(algo: str, make_env: Callable[[], Any], env_id: str, seed: int, protocol: Protocol,
                   max_env_steps: int | None, max_minutes: float | None,
                   progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train one Stable-Baselines3 agent until `max_env_steps` or `max_minutes`
    (evaluations included, as for zeroplan's runs), evaluating it on the
    protocol. Its schedules span the zoo's training length where the zoo has
    one (a shorter budget stops part-way), else the budget (100,000 steps for
    a time budget; a time budget that outlasts the schedule goes on with it
    laid out again from where training is). Evaluation records hold env_steps, seconds (training only,
    evaluation time left out) and mean_return."""
    lib = sb3()
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    kwargs, source = settings(algo, env_id)
    if _is_minatar(env_id):
        kwargs["policy_kwargs"] = _small_cnn_kwargs()
    n_envs = kwargs.pop("n_envs", 1)
    for key, value in list(kwargs.items()):
        if isinstance(value, tuple) and value[0] == "lin":
            kwargs[key] = (lambda start: lambda remaining: remaining * start)(value[1])
    cls = getattr(lib, algo.upper())
    model = cls("MlpPolicy", make_vec_env(make_env, n_envs=n_envs, seed=seed), seed=seed, device="cpu", verbose=0,
                **kwargs)
    evals: list[dict] = []
    clock = {"start": time.perf_counter(), "eval": 0.0, "next": protocol.interval}
    budget = max_env_steps or 10**12

    def over_time() -> bool:
        return max_minutes is not None and time.perf_counter() - clock["start"] > max_minutes * 60

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            steps = min(self.num_timesteps, budget)
            if steps >= clock["next"]:
                clock["next"] = (steps // protocol.interval + 1) * protocol.interval
                seconds = time.perf_counter() - clock["start"] - clock["eval"]
                t0 = time.perf_counter()
                mean = evaluate_policy(lambda obs: model.predict(obs, deterministic=True)[0], make_env,
                                       protocol.episodes, seed=10_000 + steps)
                clock["eval"] += time.perf_counter() - t0
                evals.append({"env_steps": steps, "seconds": round(seconds, 3), "mean_return": mean})
                if progress:
                    progress({"env_steps": steps, "eval/mean_reward": mean})
            return self.num_timesteps < budget and not over_time()

    schedule = MINATAR_STEPS[algo] if _is_minatar(env_id) and algo in MINATAR \
        else RL_ZOO_STEPS.get((algo, env_id), max_env_steps or 100_000)
    model.learn(total_timesteps=max(schedule, max_env_steps or 0), callback=Evaluate())
    while max_env_steps is None and not over_time():  # a time budget outlasts the schedule: go on with it again
        model.learn(total_timesteps=schedule, callback=Evaluate(), reset_num_timesteps=False)
    return {"algo": algo, "seed": seed, "settings": source, "evals": evals,
            "env_steps": int(min(model.num_timesteps, budget)),
            "seconds": round(time.perf_counter() - clock["start"] - clock["eval"], 3)}
