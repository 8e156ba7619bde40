"""Evaluation without exploration noise: mean return for single-player
environments, win/draw/loss counts against an opponent for two-player games.

Environments run in lockstep so the agent's searches are batched; each
environment plays a fixed quota of episodes, so short episodes are not
over-represented.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from zeroplan.config import Config
from zeroplan.envs.experts import make_opponent
from zeroplan.envs.frames import FrameHistory
from zeroplan.envs.gym import EnvError
from zeroplan.io.signals import Stop, check_stop
from zeroplan.mcts.model import Model, plan


def _step(env, action: int, i: int):
    """One evaluation move; an environment that raises is named like self-play's."""
    try:
        return env.step(action)
    except EnvError as err:
        raise EnvError(f"evaluation environment {i}: {err}") from err
    except Exception as err:
        raise EnvError(f"evaluation environment {i} ({env.spec.name or 'env'}): raised {type(err).__name__}: "
                       f"{err}") from err


def _quotas(total: int, num_envs: int) -> list[int]:
    n = max(1, min(total, num_envs))
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def evaluate_returns(model: Model, config: Config, env_factory: Callable[[], object], episodes: int,
                     seed: int, stop: Stop | None = None) -> list[float]:
    """Returns of `episodes` episodes; `stop()`, asked before every move, ends
    it early with EvaluationStopped."""
    quotas = _quotas(episodes, config.train.num_envs)
    envs = [env_factory() for _ in quotas]
    rng = np.random.default_rng(seed)
    frames = config.replay.stack_frames
    history = [FrameHistory(frames, env.reset(seed=seed * 7919 + i * 104_729)) for i, env in enumerate(envs)]
    returns: list[float] = []
    current = [0.0] * len(envs)
    done_count = [0] * len(envs)
    resets = [1] * len(envs)
    while True:
        active = [i for i in range(len(envs)) if done_count[i] < quotas[i]]
        if not active:
            return returns
        check_stop(stop)
        obs = np.stack([history[i].stacked() for i in active])
        legal = np.stack([envs[i].legal_mask() for i in active])
        to_play = np.array([envs[i].to_play() for i in active])
        out = plan(model, obs, legal, to_play, config.search, rng, envs[active[0]].spec.num_players, 0.0, False,
                   envs=[envs[i] for i in active])
        for j, i in enumerate(active):
            action = out.env_actions[j]
            ob, reward, terminated, truncated = _step(envs[i], action if np.ndim(action) else int(action), i)
            current[i] += reward
            history[i].push(ob)
            if terminated or truncated:
                returns.append(current[i])
                current[i] = 0.0
                done_count[i] += 1
                history[i] = FrameHistory(frames, envs[i].reset(seed=seed * 7919 + i * 104_729 + resets[i]))
                resets[i] += 1


def openings(env_factory: Callable[[], object], plies: int) -> list[tuple[int, ...]]:
    """Every sequence of `plies` legal moves from the start of a game that leaves
    it undecided, in lexicographic order (connect four: 7 ** 2 = 49 for two)."""
    if plies < 0:
        raise ValueError(f"openings need plies >= 0, got {plies}")
    env = env_factory()
    found = [()]
    for _ in range(plies):
        longer = []
        for prefix in found:
            _start(env, 0, prefix)
            for action in np.flatnonzero(env.legal_mask()):
                moves = prefix + (int(action),)
                try:
                    _start(env, 0, moves)
                except ValueError:  # the move ends the game
                    continue
                longer.append(moves)
        found = longer
    return found


def evaluate_vs(model: Model, config: Config, env_factory: Callable[[], object], opponent, games: int,
                seed: int, starts: list[tuple[int, ...]] | None = None,
                stop: Stop | None = None) -> dict[str, dict[str, int]]:
    """The agent plays `games` games as the first player, then `games` as the second.

    With `starts` (move sequences, e.g. from `openings`), each side instead plays
    one game from each: its moves are made first, then the players take over.
    The agent plays without noise and alpha-beta only breaks ties at random, so
    games from the empty board mostly repeat one line; openings vary it."""
    rng = np.random.default_rng(seed)
    starts = [()] * games if starts is None else [tuple(int(a) for a in s) for s in starts]
    result = {}
    for side, agent_player in (("first", 0), ("second", 1)):
        counts = {"wins": 0, "draws": 0, "losses": 0}
        result[side] = counts
        if not starts:
            continue
        quotas = _quotas(len(starts), config.train.num_envs)
        first = np.cumsum([0] + quotas)  # env i plays starts[first[i]:first[i + 1]]
        envs = [env_factory() for _ in quotas]
        frames = config.replay.stack_frames
        current = [_start(env, seed + i, starts[first[i]], frames) for i, env in enumerate(envs)]
        played = [0] * len(envs)
        while any(p < q for p, q in zip(played, quotas)):
            check_stop(stop)
            live = [i for i in range(len(envs)) if played[i] < quotas[i]]
            mine = [i for i in live if envs[i].to_play() == agent_player]
            actions = {}
            if mine:
                obs = np.stack([current[i].stacked() for i in mine])
                legal = np.stack([envs[i].legal_mask() for i in mine])
                to_play = np.array([envs[i].to_play() for i in mine])
                out = plan(model, obs, legal, to_play, config.search, rng, 2, 0.0, False, envs=[envs[i] for i in mine])
                actions.update({i: int(a) for i, a in zip(mine, out.env_actions)})
            for i in live:
                if i not in actions:
                    actions[i] = opponent.act(envs[i], rng)
            for i in live:
                mover = envs[i].to_play()
                ob, reward, terminated, truncated = _step(envs[i], actions[i], i)
                current[i].push(ob)
                if terminated or truncated:
                    if reward > 0:
                        counts["wins" if mover == agent_player else "losses"] += 1
                    elif reward < 0:
                        counts["losses" if mover == agent_player else "wins"] += 1
                    else:
                        counts["draws"] += 1
                    played[i] += 1
                    if played[i] < quotas[i]:
                        current[i] = _start(envs[i], seed + 1000 * played[i] + i, starts[first[i] + played[i]],
                                            frames)
    return result


def _start(env, seed: int, moves: tuple[int, ...], frames: int = 1) -> FrameHistory:
    """A new game from `moves`: the observations so far, the last for the next mover."""
    history = FrameHistory(frames, env.reset(seed=seed))
    for action in moves:
        if not env.legal_mask()[action]:
            raise ValueError(f"opening {list(moves)}: move {action} is not legal")
        obs, _, terminated, truncated = env.step(action)
        history.push(obs)
        if terminated or truncated:
            raise ValueError(f"opening {list(moves)} ends the game")
    return history


def evaluation_scalars(model: Model, config: Config, env_factory: Callable[[], object], num_players: int, seed: int,
                       episodes: int | None = None, stop: Stop | None = None) -> dict[str, float]:
    """A training run's periodic evaluation, the same on every backend.
    Single-player: the mean return as eval/mean_reward. Two-player: the score
    (win 1, draw 0, loss -1) against `run.eval_opponent`, playing each side (from
    every opening of `run.eval_openings` moves, if set), as eval/first and
    eval/second, and as eval/mean_reward their mean over all games or the worse
    side's mean (`run.eval_score`)."""
    run = config.run
    episodes = episodes or run.eval_episodes
    if num_players == 1:
        return {"eval/mean_reward": float(np.mean(evaluate_returns(model, config, env_factory, episodes, seed, stop)))}
    opponent = make_opponent(run.eval_opponent, config.env.id)
    starts = openings(env_factory, run.eval_openings) if run.eval_openings else None
    result = evaluate_vs(model, config, env_factory, opponent, episodes, seed, starts, stop)
    sides = {side: (c["wins"] - c["losses"]) / sum(c.values()) for side, c in result.items()}
    games = sum(sum(c.values()) for c in result.values())
    mean = sum(c["wins"] - c["losses"] for c in result.values()) / games
    score = min(sides.values()) if run.eval_score == "worst_side" else mean
    return {"eval/mean_reward": score, **{f"eval/{side}": v for side, v in sides.items()}}
