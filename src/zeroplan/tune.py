"""`zeroplan tune`: an Optuna study over an algorithm's settings on one env.

Each trial trains a fresh agent (no run directory) for `minutes_per_trial`
with settings drawn by Optuna's TPE sampler from a search space: a mapping of
dotted config keys to ranges or choices (`DEFAULT_SPACES`, or a YAML file
checked like a config). A trial's score is the mean of its periodic
evaluation returns, the area under its learning curve per evaluation, so a
setting that learns sooner scores above one that gets as far later. The
running mean is reported at every evaluation, and the pruner (median or
Hyperband) stops trials that fall behind the others at the same env step.

The study lives in its storage (an SQLite file by default) and so survives a
kill: started again with the same storage, it marks the trials that were cut
off as failed, queues their settings again, and runs only the trials still
missing. With `backend="ray"`, trials run as parallel Ray tasks that report
through the same storage.
"""

from __future__ import annotations

import difflib
import math
import typing
from pathlib import Path
from typing import Any, Callable, Union

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from zeroplan.agents import algorithm
from zeroplan.config import ConfigError, merge, set_dotted

# Ranges by config key. Integer fields get integer ranges; `choices` are tried as given.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "muzero": {
        "train.lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "search.num_simulations": {"low": 8, "high": 50, "log": True},
        "train.replay_ratio": {"low": 0.1, "high": 1.0, "log": True},
        "replay.unroll_steps": {"low": 3, "high": 8},
        "replay.td_steps": {"low": 5, "high": 50, "log": True},
        "net.latent_dim": {"choices": [32, 64, 128]},
    },
    "pets": {
        "model.lr": {"low": 3e-4, "high": 3e-3, "log": True},
        "model.hidden": {"choices": [64, 128, 200]},
        "planner.horizon": {"low": 10, "high": 30},
        "planner.population": {"choices": [100, 200, 400]},
    },
}
# For residual (board-game) MuZero presets the width is the channel count.
RESNET_WIDTH = ("net.latent_dim", "net.channels", {"choices": [32, 64, 128]})

Choice = Union[bool, int, float, str]


class SpaceError(ConfigError):
    """A search space that cannot be used; the message names the entry."""


class Param(BaseModel):
    """One entry of a search space: `low`/`high` (with `log`, `step`) or `choices`."""

    model_config = ConfigDict(extra="forbid")
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Choice] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Param:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("give either choices or low/high (with log or step), not both")
            if not self.choices:
                raise ValueError("choices is empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, got {self.low:g}")
        if self.step is not None and (self.step <= 0 or self.log):
            raise ValueError("step must be > 0 and cannot go with log")
        return self


def _field_type(model: type[BaseModel], key: str, source: str) -> Any:
    """The annotation of the config field a dotted key names; SpaceError naming it if none."""
    node: Any = model
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = getattr(node, "model_fields", None)
        if fields is None or part not in fields:
            known = list(fields) if fields else []
            close = difflib.get_close_matches(part, known, n=1)
            where = ".".join(parts[:depth]) or "the config"
            hint = f" (did you mean {'.'.join(parts[:depth] + close)}?)" if close else ""
            raise SpaceError(f"{source}: {key!r} is not a config setting: {where} has no {part!r}{hint}")
        node = fields[part].annotation
    if isinstance(node, type) and issubclass(node, BaseModel):
        raise SpaceError(f"{source}: {key!r} is a config section; name one of its settings")
    return node


def _numeric_kind(annotation: Any) -> str | None:
    """"int" or "float" for a numeric field (optional ones included), else None."""
    args = set(typing.get_args(annotation)) or {annotation}
    args.discard(type(None))
    if args == {int}:
        return "int"
    if args <= {int, float} and float in args:
        return "float"
    return None


class Space:
    """A validated search space: Optuna distributions by dotted config key."""

    def __init__(self, entries: dict[str, Param], distributions: dict[str, Any]):
        self.entries = entries
        self.distributions = distributions

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {k: p.model_dump(exclude_defaults=True) for k, p in self.entries.items()}


def build_space(raw: Any, algo: str, check: Callable[[dict], None], source: str = "search space") -> Space:
    """Check a search-space mapping against the algorithm's config (every key
    a setting, numeric ranges on numeric settings, integers on integer ones,
    both ends and every choice accepted by the config, tried with `check`)."""
    import optuna

    if not isinstance(raw, dict) or not raw:
        raise SpaceError(f"{source}: expected a mapping of config keys to ranges, e.g. "
                         "`train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}`")
    model = _config_model(algo)
    entries, dists = {}, {}
    for key, spec in raw.items():
        key = str(key)
        kind = _numeric_kind(_field_type(model, key, source))
        try:
            param = Param.model_validate(spec)
        except ValidationError as err:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
            raise SpaceError(f"{source}: {key}: {msgs}") from None
        if param.choices is None:
            if kind is None:
                raise SpaceError(f"{source}: {key} is not a number; give it `choices` instead of low/high")
            if kind == "int":
                if not all(float(v).is_integer() for v in (param.low, param.high, param.step or 1)):
                    raise SpaceError(f"{source}: {key} is an integer setting; low, high and step must be integers")
                dist = optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log,
                                                            step=int(param.step or 1))
                tries = [dist.low, dist.high]
            else:
                dist = optuna.distributions.FloatDistribution(param.low, param.high, log=param.log, step=param.step)
                tries = [param.low, param.high]
        else:
            dist = optuna.distributions.CategoricalDistribution(param.choices)
            tries = list(param.choices)
        for value in tries:
            try:
                check(_nested({key: value}))
            except ConfigError as err:
                raise SpaceError(f"{source}: {key}: the value {value!r} is not accepted by the config ({err})") \
                    from None
        entries[key], dists[key] = param, dist
    return Space(entries, dists)


def _config_model(algo: str) -> type[BaseModel]:
    if algo == "pets":
        from zeroplan.mbrl.config import PetsConfig

        return PetsConfig
    from zeroplan.config import Config

    return Config


def _nested(params: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in params.items():
        set_dotted(tree, key, value)
    return tree


def default_space(algo: str, config: Any) -> dict[str, dict[str, Any]]:
    space = {k: dict(v) for k, v in DEFAULT_SPACES[algo].items()}
    if algo == "muzero" and config.net.kind == "resnet":
        old, new, spec = RESNET_WIDTH
        space.pop(old, None)
        space[new] = spec
    return space


def load_space_file(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpaceError(f"{path}: cannot read ({err.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: not valid YAML ({err})") from None


# ---- one trial ---------------------------------------------------------------------------------


class NoEvaluation(RuntimeError):
    """A trial that ended before its first evaluation (nothing to score)."""


def run_trial(trial: Any, env: str, algo: str, params: dict[str, Any], overrides: dict[str, Any]) -> float:
    """Train one agent with `params` over `overrides` (which hold the trial's
    budget), reporting the running mean of its evaluations to `trial`
    (Optuna's Trial, or anything with report/should_prune/set_user_attr; the
    step is the evaluation's number, which is the same env step in every trial
    of a study) and pruning when told; returns the mean of all its evaluations."""
    import optuna

    cls = algorithm(algo).agent_class()
    # Every trial runs its whole budget: a run stopped at a preset's target return
    # would be scored on fewer, earlier evaluations than a slower one.
    config, _ = cls.config_for(env, merge(merge(overrides, _nested(params)), {"run": {"stop_at_return": None}}))
    returns: list[float] = []

    def on_row(row: dict) -> None:
        if "eval/mean_reward" not in row:
            return
        returns.append(float(row["eval/mean_reward"]))
        trial.report(sum(returns) / len(returns), step=len(returns))
        trial.set_user_attr("env_steps", int(row["env_steps"]))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at evaluation {len(returns)} ({int(row['env_steps']):,} env steps)")

    agent = cls(config=config, run_dir=None, tensorboard=False)
    try:
        agent.learn(callback=on_row)
    finally:
        agent.close()
    if not returns:
        raise NoEvaluation("the trial ended before its first evaluation; give it more minutes or a shorter "
                           "run.eval_interval (--set run.eval_interval=N)")
    return sum(returns) / len(returns)


def _remote_trial(storage: str, study_name: str, trial_id: int, env: str, algo: str, params: dict,
                  overrides: dict, pruner: str) -> tuple[str, Any]:
    """A trial run in a Ray task: it reports through the study's storage (with
    the study's pruner). Returns ("complete", value), ("pruned", None) or ("fail", message)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=make_pruner(pruner))
    return _outcome(lambda: run_trial(optuna.trial.Trial(study, trial_id), env, algo, params, overrides))


def _outcome(run: Callable[[], float]) -> tuple[str, Any]:
    """A trial's end: complete with its score, pruned, or failed with the error's
    message. Any error of the trial's own run fails that trial, not the study
    (a bad combination of settings, a diverged run, memory running out);
    Ctrl-C still ends the tune."""
    import optuna

    try:
        return "complete", run()
    except optuna.TrialPruned:
        return "pruned", None
    except Exception as err:  # noqa: BLE001 (the study goes on; the message is kept in the trial)
        return "fail", f"{type(err).__name__}: {err}"


# ---- the study ---------------------------------------------------------------------------------


def open_study(storage: str, study_name: str, env: str, algo: str, space: Space, pruner: str, seed: int,
               overrides: dict | None = None):
    """Create or reopen the study; a reopened one must be of the same env,
    algorithm, space and trial settings (`overrides`). Trials a killed tune
    left running are marked failed and their settings queued again. One tune
    process per study: trials another live process is running would be
    taken for cut-off ones."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner_made = make_pruner(pruner)
    try:
        study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner_made,
                                    load_if_exists=True)
    except Exception as err:  # a malformed URL, a missing driver, a database that cannot be opened
        raise ConfigError(f"--storage {storage}: cannot open the study ({type(err).__name__}: {err})") from None
    # A reopened study's sampler starts where the trials so far leave it, not from
    # the seed's first draws again (which would repeat the earlier settings).
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    made_for = {"env": env, "algo": algo, "space": space.as_dict(), "overrides": overrides or {}}
    attrs = study.user_attrs
    if not attrs:
        for key, value in made_for.items():
            study.set_user_attr(key, value)
    elif {k: attrs.get(k) for k in made_for} != made_for:
        raise ConfigError(f"the study {study_name!r} in {storage} was made for {attrs.get('algo')} on "
                          f"{attrs.get('env')} with another search space or other trial settings "
                          "(--minutes-per-trial, --set, --seed); use another --storage or --study-name")
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # Cut off by a killed tune: failed, and its settings run again, once
        # (a setting that kills the process every time does not loop for ever).
        retry = not trial.user_attrs.get("requeued")
        study.set_user_attr(f"interrupted_{trial.number}", retry)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        if retry:
            study.enqueue_trial(trial.params, user_attrs={"requeued": True}, skip_if_exists=False)
    return study


def make_pruner(name: str):
    """The pruner by name. Pruning starts at a trial's third evaluation: the
    first ones of a run are mostly noise around an untrained agent's return,
    and pruning on them cut good settings by chance."""
    import optuna

    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3),
               "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1),
               "none": lambda: optuna.pruners.NopPruner()}
    if name not in pruners:
        raise ConfigError(f"--pruner must be one of {', '.join(pruners)}, got {name!r}")
    return pruners[name]()


def finished(study) -> int:
    """Trials that count towards --trials: complete, pruned, or failed on their own
    (not cut off by a killed tune)."""
    import optuna

    attrs = study.user_attrs
    done = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            done += 1
        elif t.state == optuna.trial.TrialState.FAIL and not attrs.get(f"interrupted_{t.number}"):
            done += 1
    return done


def optimise(study, trials: int, env: str, algo: str, space: Space, overrides: dict, storage: str,
             backend: str = "local", workers: int = 2, address: str | None = None,
             on_trial: Callable[[Any], None] | None = None, pruner: str = "median") -> None:
    """Run trials until `trials` have finished in the study, one at a time
    (local) or `workers` at once as Ray tasks."""
    import optuna

    def tell(trial, outcome: tuple[str, Any]) -> None:
        state, value = outcome
        if state == "complete":
            study.tell(trial, value)
        elif state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            trial.set_user_attr("error", value)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if on_trial:
            on_trial(study.trials[trial.number])

    if backend == "local":
        while finished(study) < trials:
            trial = study.ask(space.distributions)
            tell(trial, _outcome(lambda: run_trial(trial, env, algo, trial.params, overrides)))
        return
    import ray

    from zeroplan.runners.ray import init_ray

    init_ray(address, num_cpus=None)
    remote = ray.remote(num_cpus=1)(_remote_trial)
    running: dict = {}
    while finished(study) + len(running) < trials or running:
        while len(running) < workers and finished(study) + len(running) < trials:
            trial = study.ask(space.distributions)
            running[remote.remote(storage, study.study_name, trial._trial_id, env, algo, trial.params,
                                  overrides, pruner)] = trial
        [ready], _ = ray.wait(list(running), num_returns=1)
        try:
            outcome = ray.get(ready)
        except ray.exceptions.RayError as err:  # the task's worker died (e.g. killed for memory)
            outcome = ("fail", f"{type(err).__name__}: {err}")
        tell(running.pop(ready), outcome)


def best_config(study, overrides: dict) -> dict[str, Any]:
    """The settings to train with: the tune's own overrides (its budget left out) and the best trial's."""
    base = {k: (dict(v) if isinstance(v, dict) else v) for k, v in overrides.items()}
    run = {k: v for k, v in base.get("run", {}).items() if k not in ("max_minutes", "seed")}
    if run:
        base["run"] = run
    else:
        base.pop("run", None)
    return merge(base, _nested(study.best_trial.params))


def trials_table(study, top: int = 10) -> list[dict[str, Any]]:
    """The best finished trials first, then the pruned and failed ones."""
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.RUNNING:
            continue
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value, "last_report": last,
                     "evaluations": len(t.intermediate_values), "env_steps": t.user_attrs.get("env_steps", 0),
                     "params": t.params, "error": t.user_attrs.get("error")})
    rows.sort(key=lambda r: (r["state"] != "complete", -(r["value"] if r["value"] is not None else -math.inf)))
    return rows[:top] if top else rows


def plot_study(study, path: Path) -> Path:
    """Optimisation history (each trial's value, pruned ones at their last
    report, and the best so far) beside the parameter importances."""
    import optuna
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="tight")
    FigureCanvasAgg(fig)
    history, importance = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values]
    history.scatter([t.number for t in complete], [t.value for t in complete], label="complete", color="tab:blue")
    history.scatter([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                    label="pruned (last report)", color="tab:gray", marker="x")
    if complete:
        best, xs, ys = -math.inf, [], []
        for t in sorted(complete, key=lambda t: t.number):
            best = max(best, t.value)
            xs.append(t.number)
            ys.append(best)
        history.step(xs, ys, where="post", color="tab:red", label="best so far")
    history.set_xlabel("trial")
    history.set_ylabel("mean evaluation return")
    history.set_title("optimisation history")
    history.legend(loc="best")
    try:
        scores = optuna.importance.get_param_importances(study) if len(complete) >= 2 else {}
    except (RuntimeError, ValueError):  # e.g. every completed trial had the same value
        scores = {}
    if scores:
        names = list(scores)[::-1]
        importance.barh(names, [scores[n] for n in names], color="tab:green")
        importance.set_xlabel("importance")
    else:
        importance.text(0.5, 0.5, "importances need two completed trials\nwith different values",
                        ha="center", va="center", transform=importance.transAxes)
        importance.set_axis_off()
    importance.set_title("parameter importances")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
