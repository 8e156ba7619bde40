"""The study of `zeroplan tune`: trials, pruning, resuming, the Ray backend,
and what is written at the end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from zeroplan.agents import algorithm
from zeroplan.config import ConfigError, merge
from zeroplan.tune.space import Space, nested

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
    config, _ = cls.config_for(env, merge(merge(overrides, nested(params)), {"run": {"stop_at_return": None}}))
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
    return merge(base, nested(study.best_trial.params))


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
