"""Play against an agent in the terminal, or watch one play and record it.

`play_terminal` works for any two-player environment on the turn-based
contract whose `render()` returns text and that has `legal_mask()`: the human
types an action index, the opponent is a trained agent's search or, without a
run, the best expert there is for the game. Input is read through
`input_fn`/`print_fn` so a test can script a whole game. Nothing the user
types can crash it: bad input is re-asked with a reason, end of input (Ctrl-D)
or "q" ends the game.

`record_episode` runs a trained agent on a single-player Gymnasium env and
writes the rendered frames as an animated GIF.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zeroplan.config import ConfigError, EnvConfig, load_config
from zeroplan.envs import make_env
from zeroplan.envs.gym import EnvError
from zeroplan.io.checkpoint import CheckpointError

QUIT_WORDS = ("q", "quit", "exit")


class PlayError(ValueError):
    """A play request that cannot be carried out (wrong game for the run, missing run, ...)."""


# --- opponents ----------------------------------------------------------------------------

class _AgentMover:
    """A trained agent choosing moves by search, fed the stacked observations it was trained on."""

    def __init__(self, agent):
        self.agent = agent
        self.name = "the agent"

    def act(self, env, history: list[np.ndarray], rng: np.random.Generator) -> int:
        from zeroplan.envs.frames import stack_frames

        obs = stack_frames(history, len(history) - 1, self.agent.config.replay.stack_frames)
        return int(self.agent.predict(obs, legal_mask=env.legal_mask(), to_play=env.to_play(), deterministic=True,
                                      env=env))


class _ExpertMover:
    def __init__(self, expert, name: str):
        self.expert = expert
        self.name = name

    def act(self, env, history: list[np.ndarray], rng: np.random.Generator) -> int:
        return int(self.expert.act(env, rng))


def _expert_for(game_id: str, print_fn: Callable[[str], Any]) -> _ExpertMover:
    from zeroplan.envs.experts import TicTacToeMinimax, make_opponent

    try:
        expert = make_opponent("expert", game_id)
    except ValueError:
        expert = None
    if expert is not None:
        return _ExpertMover(expert, "the perfect player" if isinstance(expert, TicTacToeMinimax) else "the expert")
    print_fn(f"(no expert player for {game_id}; you are playing a random one)")
    return _ExpertMover(make_opponent("random", game_id), "the random player")


# --- the terminal game --------------------------------------------------------------------

def _ask_move(env, input_fn: Callable[[str], str], print_fn: Callable[[str], Any]) -> int | None:
    """A legal action typed by the human, or None when they quit or input ends."""
    legal = np.asarray(env.legal_mask(), dtype=bool)
    n = legal.size
    moves = " ".join(str(a) for a in np.flatnonzero(legal))
    while True:
        try:
            line = input_fn(f"your move ({moves}; q to quit): ")
        except EOFError:
            print_fn("")
            return None
        text = line.strip()
        if not text:
            print_fn(f"please type one of the legal moves: {moves}")
            continue
        if text.lower() in QUIT_WORDS:
            return None
        try:
            action = int(text)
        except ValueError:
            print_fn(f"{text!r} is not a number; type one of: {moves}")
            continue
        if not 0 <= action < n:
            print_fn(f"{action} is out of range (moves are 0..{n - 1}); type one of: {moves}")
        elif not legal[action]:
            print_fn(f"{action} is not a legal move here; type one of: {moves}")
        else:
            return action


def _check_game(env, game_id: str) -> None:
    if env.spec.num_players != 2:
        raise PlayError(f"{game_id} is a one-player environment; `play` against an opponent needs a two-player game")
    render = getattr(env, "render", None)
    if not callable(render) or not isinstance(render(), str):
        raise PlayError(f"{game_id}: it has no render() returning text, so the board cannot be drawn in a terminal")


def play_terminal(game_id: str, agent=None, human_player: int = 0, input_fn: Callable[[str], str] = input,
                  print_fn: Callable[[str], Any] = print, rng: np.random.Generator | None = None,
                  seed: int = 0) -> str:
    """One game, human against `agent` (or the game's expert when None).

    Returns "human", "opponent" or "draw" for the winner, "quit" when the human left.
    """
    if human_player not in (0, 1):
        raise PlayError(f"human_player must be 0 (move first) or 1 (move second), got {human_player!r}")
    rng = np.random.default_rng(seed) if rng is None else rng
    env = agent.env_factory() if agent is not None else make_env(EnvConfig(id=game_id))
    obs = env.reset(seed=seed)
    _check_game(env, game_id)
    opponent = _AgentMover(agent) if agent is not None else _expert_for(game_id, print_fn)
    history = [obs]
    order = "first" if human_player == 0 else "second"
    print_fn(f"{game_id}: you are player {human_player} and move {order}, against {opponent.name}. "
             "Type the number of a move; q or Ctrl-D quits.")
    while True:
        print_fn(env.render())
        mover = env.to_play()
        if mover == human_player:
            action = _ask_move(env, input_fn, print_fn)
            if action is None:
                print_fn("game abandoned.")
                return "quit"
        else:
            action = opponent.act(env, history, rng)
            print_fn(f"{opponent.name} plays {action}")
        obs, reward, terminated, truncated = env.step(action)
        history.append(obs)
        if terminated or truncated:
            print_fn(env.render())
            return _announce(reward, mover, human_player, opponent.name, print_fn)


def _announce(reward: float, mover: int, human_player: int, opponent_name: str,
              print_fn: Callable[[str], Any]) -> str:
    """The reward is from the point of view of the player who just moved."""
    if reward == 0:
        print_fn("game over: a draw.")
        return "draw"
    mover_won = reward > 0
    human_won = mover_won == (mover == human_player)
    print_fn("game over: you win!" if human_won else f"game over: {opponent_name} wins.")
    return "human" if human_won else "opponent"


# --- single-player: watching and recording --------------------------------------------------

def _run_episode(agent, env, seed: int, on_step: Callable[[], None]) -> tuple[float, int]:
    from zeroplan.envs.frames import stack_frames

    frames = agent.config.replay.stack_frames
    history = [env.reset(seed=seed)]
    on_step()
    total, steps = 0.0, 0
    while True:
        obs = stack_frames(history, len(history) - 1, frames)
        action = agent.predict(obs, legal_mask=env.legal_mask(), to_play=env.to_play(), deterministic=True,
                               env=env)  # an index, or a continuous action's vector
        ob, reward, terminated, truncated = env.step(action)
        history.append(ob)
        total += reward
        steps += 1
        on_step()
        if terminated or truncated:
            return total, steps


def record_episode(agent, env_id: str | None, path: str | Path, seed: int = 0) -> dict[str, Any]:
    """One deterministic episode of `agent` on a single-player Gymnasium env, saved as an animated GIF.

    `env_id` defaults to the agent's own env; another id must give the same
    observation and action shapes (e.g. a perturbed copy registered under its own name).
    """
    from PIL import Image

    from zeroplan.envs.render import frames_per_second, make_render_env, rgb_frame

    config = agent.config.env if env_id in (None, agent.config.env.id) else EnvConfig(id=env_id)
    env = make_render_env(config, "rgb_array")
    if env.spec.obs_shape != agent.spec.obs_shape or env.spec.num_actions != agent.spec.num_actions \
            or env.spec.action_dim != agent.spec.action_dim:
        raise PlayError(f"{config.id}: observations {env.spec.obs_shape} and {env.spec.num_actions} actions, "
                        f"the agent was trained on {agent.spec.obs_shape} and {agent.spec.num_actions}")
    frames: list[np.ndarray] = []
    try:
        total, steps = _run_episode(agent, env, seed, lambda: frames.append(rgb_frame(env)))
        fps = frames_per_second(env)
    finally:
        env.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, round(1000 / fps)), loop=0)
    return {"env": config.id, "return": total, "steps": steps, "frames": len(frames), "path": str(path)}


def has_display() -> bool:
    """Whether a window can be opened: macOS and Windows always, elsewhere an X11 or Wayland display."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def watch_episode(agent, seed: int = 0, print_fn: Callable[[str], Any] = print) -> dict[str, Any]:
    """One deterministic episode shown as it is played: in a window (the env's
    "human" render mode) when there is a display, else as text ("ansi")."""
    import gymnasium.error

    from zeroplan.envs.render import make_render_env, render_modes

    config = agent.config.env
    modes = render_modes(config)
    if "human" in modes and has_display():
        mode = "human"
    elif "ansi" in modes:
        mode = "ansi"
    elif "human" in modes:
        raise PlayError(f"{config.id}: --render opens a window, and there is no display here (DISPLAY is not set); "
                        "use --record FILE.gif instead")
    else:
        raise PlayError(f"{config.id}: cannot be shown (its render modes: {', '.join(modes) or 'none'}); "
                        "use --record FILE.gif if it draws frames")
    env = make_render_env(config, mode)
    # "human" envs draw themselves on every reset and step; "ansi" ones return text to print.
    on_step = (lambda: None) if mode == "human" else (lambda: print_fn(str(env.render())))
    try:
        total, steps = _run_episode(agent, env, seed, on_step)
    except (ImportError, gymnasium.error.DependencyNotInstalled) as err:  # pygame, for the classic envs
        raise PlayError(f"{config.id}: showing it needs an optional drawing library ({err}); "
                        "use --record FILE.gif instead") from None
    finally:
        env.close()
    return {"env": config.id, "return": total, "steps": steps, "mode": mode}


# --- the command ---------------------------------------------------------------------------

def _game_config(game: str | None, agent) -> EnvConfig:
    if agent is None:
        if not game:
            raise PlayError("name a game to play (e.g. tictactoe), or give --run RUN_DIR")
        return load_config(game).env  # a preset name or an env id
    own = agent.config.env
    if game and game.lower() != own.id.lower() and load_config(game).env.id != own.id:
        raise PlayError(f"the run was trained on {own.id}, not {game}")
    return own


def play_command(game: str | None, run: Path | None, first: bool = True, render: bool = False,
                 record: Path | None = None, seed: int = 0, input_fn: Callable[[str], str] = input,
                 print_fn: Callable[[str], Any] = print) -> int:
    """`zeroplan play`: a two-player game against the run's agent (or the expert),
    or, for a single-player env, the run's agent playing one episode (--render in
    a window, or as text for text-drawn envs; --record FILE.gif). Returns the exit status; errors are printed, not raised."""
    try:
        agent = None
        if run is not None:
            from zeroplan.muzero.agent import load

            agent = load(run)
            agent.rng = np.random.default_rng(seed)
        config = _game_config(game, agent)
        probe = agent.env_factory() if agent is not None else make_env(config)
        if probe.spec.num_players == 2:
            if record is not None:
                raise PlayError("--record is for single-player Gymnasium envs; board games are drawn as text")
            play_terminal(config.id, agent, 0 if first else 1, input_fn=input_fn, print_fn=print_fn, seed=seed)
            return 0
        if agent is None:
            raise PlayError(f"{config.id} is a one-player environment: give --run RUN_DIR to watch a trained agent")
        if record is not None:
            info = record_episode(agent, None, record, seed)
            print_fn(f"{info['env']}: return {info['return']:g} in {info['steps']} steps, "
                     f"{info['frames']} frames written to {info['path']}")
        elif render:
            info = watch_episode(agent, seed, print_fn)
            print_fn(f"{info['env']}: return {info['return']:g} in {info['steps']} steps")
        else:
            raise PlayError(f"{config.id} is a one-player environment: add --render (a window, or text) or "
                            "--record FILE.gif to watch the agent play")
        return 0
    except (PlayError, EnvError, CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print_fn("\ninterrupted.")
        return 130


def main(argv: list[str] | None = None) -> None:
    """`python -m zeroplan.play GAME [--run RUN_DIR] [--first|--second] ...` (the CLI's `play` in miniature)."""
    parser = argparse.ArgumentParser(prog="zeroplan-play", description=__doc__.split("\n\n")[0])
    parser.add_argument("game", nargs="?", help="a two-player game (tictactoe), or the env of --run")
    parser.add_argument("--run", type=Path, help="a run directory: play against (or watch) its agent")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--first", dest="first", action="store_true", default=True, help="you move first (default)")
    side.add_argument("--second", dest="first", action="store_false", help="the opponent moves first")
    parser.add_argument("--render", action="store_true", help="single-player envs: draw each step as text")
    parser.add_argument("--record", type=Path, help="single-player envs: write the episode as a GIF")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.exit(play_command(args.game, args.run, args.first, args.render, args.record, args.seed))


if __name__ == "__main__":
    main()
