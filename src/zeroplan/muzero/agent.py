"""MuZero: the Python API, Stable-Baselines3 in feel.

    agent = zeroplan.MuZero("CartPole-v1")          # preset chosen by env id
    agent.learn(total_env_steps=20_000, progress_bar=True)
    action = agent.predict(obs)                      # deterministic by default
    agent.save("runs/cartpole/agent"); agent = zeroplan.load("runs/cartpole/agent")

An agent made for training owns a `LocalRunner` (environments, replay,
learner, run directory). A loaded agent is only its network and search model:
no environment is made and no global random generator is touched until it is
evaluated or trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zeroplan.config import Config, ConfigError, build_config, load_config, merge
from zeroplan.envs import make_env
from zeroplan.envs.spec import EnvSpec
from zeroplan.io.checkpoint import Checkpoint, find_checkpoint, load_weights, save_checkpoint
from zeroplan.mcts.model import plan
from zeroplan.nets.build import build_net, net_obs_shape
from zeroplan.mcts.model import Model
from zeroplan.muzero.search_model import search_model
from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.runners.local import LocalRunner, TrainResult


class MuZero:
    algo = "muzero"

    def __init__(self, env: str = "CartPole-v1", *, config: Config | None = None, run_dir: str | Path | None = None,
                 seed: int | None = None, overrides: dict[str, Any] | None = None, set: list[str] | None = None,
                 tensorboard: bool = True):
        if config is None:
            config = load_config(env, overrides=overrides, dotted=set)
        if seed is not None:
            config = build_config({**config.model_dump(), "run": {**config.run.model_dump(), "seed": seed}})
        self._attach(LocalRunner(config, run_dir, tensorboard=tensorboard))

    def _attach(self, runner: LocalRunner) -> None:
        self.config = runner.config
        self.runner: LocalRunner | None = runner
        self.spec: EnvSpec = runner.spec
        self.net: MuZeroNet = runner.net
        self.model: Model = runner.model
        self.rng = np.random.default_rng(self.config.run.seed + 2)
        self._counters = (0, 0)

    @classmethod
    def config_for(cls, env: str, overrides: dict | None = None, dotted: list[str] | None = None
                   ) -> tuple[Config, list[str]]:
        """The validated config for `env`: its preset, or without one, settings
        derived from the env (network size, value support; `overrides` win),
        with a note saying what was derived."""
        from zeroplan.config import EnvConfig, parse_overrides, preset_for
        from zeroplan.envs.defaults import derive_defaults

        overrides = overrides or {}
        notes = []
        if preset_for(env) is None:
            section = merge(overrides, parse_overrides(dotted or [])).get("env", {})  # what the user set wins
            try:
                env_config = EnvConfig.model_validate(merge({"id": env}, section if isinstance(section, dict) else {}))
            except ValueError:
                env_config = None  # load_config below names what is wrong
            if env_config is not None:
                derived, why = derive_defaults(env_config)
                notes.append(f"no preset for {env}; derived: " + "; ".join(why))
                overrides = merge(derived, overrides)
        return load_config(env, overrides=overrides, dotted=dotted), notes

    @classmethod
    def resume(cls, run_dir: str | Path, run_overrides: dict[str, Any] | None = None,
               tensorboard: bool = True) -> MuZero:
        """Continue a run from its last checkpoint; only `run.*` settings may
        change, e.g. `{"run": {"max_env_steps": 50_000}}` (see LocalRunner.resume)."""
        agent = cls.__new__(cls)
        agent._attach(LocalRunner.resume(run_dir, run_overrides, tensorboard=tensorboard))
        return agent

    @property
    def result(self) -> TrainResult:
        return self.training_runner().result

    @property
    def notes(self) -> list[str]:
        """Settings the runner settled for the config (an episode limit, the evaluation opponent)."""
        return self.runner.notes if self.runner is not None else []

    @property
    def env_factory(self) -> Callable[[], object]:
        """Fresh environments of the agent's config (the runner's own when training)."""
        if self.runner is not None:
            return self.runner.env_factory
        return lambda: make_env(self.config.env)

    def training_runner(self, run_dir: str | Path | None = None) -> LocalRunner:
        """The runner that trains this agent, made on first use for a loaded one
        (its network is the loaded one)."""
        if self.runner is None:
            runner = LocalRunner(self.config, run_dir, net=self.net, tensorboard=False)
            runner.result.env_steps, runner.result.train_steps = self._counters
            self.runner = runner
        return self.runner

    def learn(self, total_env_steps: int | None = None, max_minutes: float | None = None,
              progress_bar: bool = False, backend: str = "local", num_workers: int = 2,
              address: str | None = None, callback: Callable[[dict], None] | None = None) -> TrainResult:
        """Train; `backend="ray"` runs the same components as Ray actors
        (`num_workers` self-play actors; `address` of a cluster, or a local Ray).
        `callback` gets every logged row (env_steps and scalars; evaluations
        carry eval/mean_reward); an exception it raises ends the call."""
        from zeroplan.io.progress import progress_and_callback

        runner = local = self.training_runner()
        if backend == "ray":
            from zeroplan.runners.ray import RayRunner

            runner = RayRunner(local, num_workers=num_workers, address=address)
        elif backend != "local":
            raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
        try:
            with progress_and_callback(total_env_steps or self.config.run.max_env_steps, progress_bar,
                                       callback, start=local.result.env_steps) as progress:
                return runner.train(total_env_steps, max_minutes, progress=progress)
        finally:
            if runner is not local:
                runner.shutdown()

    def predict(self, obs: np.ndarray, legal_mask: np.ndarray | None = None, to_play: int | np.ndarray = 0,
                deterministic: bool = True, env=None) -> int | np.ndarray:
        """An action for one observation (or a batch [B, ...]) by searching with the learned model.
        Continuous actions come back as vectors in [-1, 1]^D, which the env adapter scales to the
        action space's bounds (GymEnv.step).
        With search.model 'rules' (AlphaZero) the search steps copies of `env`, the environment
        the observation came from (a list of them for a batch), which is required then."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.shape == tuple(self.net_obs_shape())
        batch = obs[None] if single else obs
        n = len(batch)
        legal = np.ones((n, self.spec.num_actions), bool) if legal_mask is None else \
            np.asarray(legal_mask, bool).reshape(n, -1)
        players = np.broadcast_to(np.asarray(to_play), (n,))
        envs = None if env is None else ([env] if single else list(env))
        out = plan(self.model, batch, legal, players, self.config.search, self.rng, self.spec.num_players,
                   0.0 if deterministic else 1.0, explore=not deterministic, envs=envs)
        played = out.env_actions  # an index, or with continuous actions a vector in [-1, 1]^D
        if single:
            return played[0] if self.spec.action_dim else int(played[0])
        return played

    def net_obs_shape(self) -> tuple[int, ...]:
        return net_obs_shape(self.config, self.spec.obs_shape)

    def evaluate(self, episodes: int = 20, *, seed: int | None = None, opponent: str | None = None,
                 openings: int = 0) -> dict:
        """Without exploration noise. Single-player: mean and std of the return
        over `episodes`. Two-player: `episodes` games per side against
        `opponent` (default `run.eval_opponent`: random | expert | alphabeta:N |
        auto, the game's expert or else random),
        or one game per side from every opening of `openings` moves; the
        win/draw/loss counts per side."""
        from zeroplan.eval.evaluate import evaluate_returns, evaluate_vs, openings as all_openings

        seed = self.config.run.seed + 123 if seed is None else seed
        if self.spec.num_players == 1:
            if opponent is not None or openings:
                raise ConfigError(f"an opponent and openings are for two-player games; {self.config.env.id} "
                                  "has one player")
            returns = evaluate_returns(self.model, self.config, self.env_factory, episodes, seed=seed)
            return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
                    "episodes": episodes}
        from zeroplan.envs.experts import make_opponent, resolve_opponent

        try:
            name, _ = resolve_opponent(opponent or self.config.run.eval_opponent, self.config.env.id)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        starts = all_openings(self.env_factory, openings) if openings else None
        result: dict = evaluate_vs(self.model, self.config, self.env_factory, make_opponent(name, self.config.env.id),
                                   episodes, seed, starts)
        result["opponent"] = name
        if starts is not None:
            result["openings"] = {"plies": openings, "count": len(starts)}
        return result

    def checkpoint_meta(self) -> dict:
        if self.runner is not None:
            return self.runner.checkpoint_meta()
        env_steps, train_steps = self._counters
        return {"algo": "muzero", "config": self.config.model_dump(mode="json"), "spec": self.spec.to_json(),
                "env_steps": env_steps, "train_steps": train_steps, "best_eval": -float("inf")}

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, self.net.state_dict(), self.checkpoint_meta())

    def summary(self, result: TrainResult) -> dict:
        """What `zeroplan train` prints when a run ends."""
        return {"env_steps": result.env_steps, "train_steps": result.train_steps, "seconds": round(result.seconds, 1),
                "best_eval": result.best_eval if result.evals else None, "solved_at": result.solved_at}

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    @classmethod
    def load(cls, path: str | Path, search: dict[str, Any] | None = None) -> MuZero:
        """A saved agent (a checkpoint directory, or a run directory: its best
        checkpoint, else its last): the network and its search model only.
        `search` changes settings of its search (e.g. `{"num_simulations": 64}`),
        which the weights do not depend on."""
        ckpt = Checkpoint(find_checkpoint(path))
        if ckpt.meta.get("algo") != "muzero":  # AlphaZero saves MuZero checkpoints too
            raise ckpt.error("meta.json", f"not a MuZero checkpoint (algo={ckpt.meta.get('algo')!r})")
        try:
            config = build_config(ckpt.meta["config"])
            if search:
                acting = {"search": search}
                if search.get("model") == "rules":  # training-only settings the rules model refuses do not matter
                    acting["train"] = {"reanalyse_fraction": 0.0, "value_target": "td", "bootstrap": "value"}
                config = build_config(merge(config.model_dump(mode="json"), acting))
            spec = EnvSpec.from_json(ckpt.meta["spec"])
        except (KeyError, ValueError, TypeError) as err:
            raise ckpt.error("meta.json", f"config unusable ({err})") from None
        with torch.random.fork_rng(devices=[]):  # the fresh weights are overwritten: leave torch's generator as it was
            net = build_net(config, spec.obs_shape, spec.num_actions, spec.action_dim)
        load_weights(net, ckpt.tensors(), ckpt)
        agent = cls.__new__(cls)
        agent.config, agent.spec, agent.net, agent.runner = config, spec, net.eval(), None
        agent.model = search_model(agent.net, config)
        agent.rng = np.random.default_rng(config.run.seed + 2)
        agent._counters = (ckpt.manifest["env_steps"], ckpt.manifest["train_steps"])
        return agent


class AlphaZero(MuZero):
    """MuZero's loop with its search over the real game instead of a learned model
    (`search.model: rules`): the network only evaluates positions, and has no
    dynamics to unroll (`replay.unroll_steps: 0`). For envs that can be copied
    (`clone()`): the native games, Gymnasium envs whose state deep-copies, your own.

        agent = zeroplan.AlphaZero("connect4")   # the connect4-alphazero preset

    A saved AlphaZero agent is a MuZero checkpoint whose config says `rules`;
    `zeroplan.load` gives it back as a MuZero that searches the same way.
    """

    algo = "alphazero"

    def __init__(self, env: str = "connect4", *, config: Config | None = None, overrides: dict[str, Any] | None = None,
                 set: list[str] | None = None, **kwargs: Any):
        if config is None:
            config = self.config_for(env, overrides, set)[0]
        super().__init__(env, config=config, **kwargs)

    @classmethod
    def config_for(cls, env: str, overrides: dict | None = None, dotted: list[str] | None = None
                   ) -> tuple[Config, list[str]]:
        """The env's AlphaZero preset (`<name>-alphazero`) where there is one, else its
        MuZero config with the search over the rules, no unroll and no value prefix
        (a learned reward model the rules replace; `overrides` win)."""
        from zeroplan.config import preset_for

        name = preset_for(f"{env}-alphazero")
        if name is not None:
            return load_config(name, overrides=overrides, dotted=dotted), [f"preset {name}"]
        rules = {"search": {"model": "rules"}, "replay": {"unroll_steps": 0}, "net": {"value_prefix": False}}
        config, notes = super().config_for(env, merge(rules, overrides or {}), dotted)
        return config, notes + [f"no AlphaZero preset for {env}: its MuZero settings with search.model rules, "
                                "replay.unroll_steps 0 and net.value_prefix false"]


def load(path: str | Path, search: dict[str, Any] | None = None) -> MuZero:
    """Load a saved agent (a checkpoint directory, or a run directory: its `best`
    checkpoint, else its `last`), optionally with other search settings (MuZero.load)."""
    return MuZero.load(path, search=search)


__all__ = ["AlphaZero", "MuZero", "load"]
