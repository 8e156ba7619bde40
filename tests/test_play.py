"""Playing in the terminal: scripted humans, bad input, end of input, recording a GIF."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import zeroplan
from zeroplan import play
from zeroplan.play import play_command, play_terminal, record_episode

TINY = ["search.num_simulations=4", "train.num_envs=2", "net.hidden=[16]", "net.latent_dim=8", "net.support_size=5"]


class ScriptedHuman:
    """Types the given lines, then the first legal move listed in each prompt."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.lines:
            return self.lines.pop(0)
        return re.search(r"\((\d+)", prompt).group(1)


class Transcript(list):
    def __call__(self, text: str = "") -> None:
        self.append(str(text))

    @property
    def text(self) -> str:
        return "\n".join(self)


def test_scripted_game_against_the_perfect_player_re_asks_bad_input():
    out = Transcript()
    human = ScriptedHuman(["abc", "4", "", "9", "4"])  # not a number; a move; empty; out of range; taken
    result = play_terminal("tictactoe", None, human_player=0, input_fn=human, print_fn=out, seed=3)
    assert result in ("opponent", "draw")  # nobody beats perfect play
    text = out.text
    assert "'abc' is not a number" in text
    assert "please type one of the legal moves" in text
    assert "9 is out of range (moves are 0..8)" in text
    assert "4 is not a legal move here" in text
    assert "the perfect player plays" in text and "game over:" in text
    assert text.count("---+---+---") >= 2 * 5  # the board is drawn each turn
    assert "4" not in human.prompts[-1].split(";")[0]  # cell 4 is no longer offered


def test_end_of_input_and_quit_end_the_game_cleanly():
    def eof(prompt):
        raise EOFError

    out = Transcript()
    assert play_terminal("tictactoe", None, 0, input_fn=eof, print_fn=out) == "quit"
    assert "game abandoned." in out.text
    assert play_terminal("tictactoe", None, 1, input_fn=ScriptedHuman(["q"]), print_fn=Transcript()) == "quit"


def test_second_player_against_an_untrained_agent():
    torch.set_num_threads(1)
    agent = zeroplan.MuZero("tictactoe", set=TINY, tensorboard=False)
    out = Transcript()
    result = play_terminal("tictactoe", agent, human_player=1, input_fn=ScriptedHuman([]), print_fn=out)
    assert result in ("human", "opponent", "draw")
    assert out[0].startswith("tictactoe: you are player 1 and move second, against the agent")
    assert "X" not in out[1] and out[2].startswith("the agent plays")  # the empty board, then the agent opens


def test_connect_four_against_its_expert():
    out = Transcript()
    human = ScriptedHuman(["7", "3"])  # out of range; then the first legal column each turn
    result = play_terminal("connect4", None, human_player=0, input_fn=human, print_fn=out, seed=1)
    assert result in ("human", "opponent", "draw")
    assert "7 is out of range (moves are 0..6)" in out.text and "the expert plays" in out.text


def test_a_game_without_text_rendering_is_refused():
    from zeroplan.envs.spec import EnvSpec
    from zeroplan.play import PlayError, _check_game

    class Silent:
        spec = EnvSpec(obs_shape=(2,), num_actions=2, num_players=2, name="silent")

    with pytest.raises(PlayError, match="cannot be drawn"):
        _check_game(Silent(), "silent")


def test_one_player_env_is_refused():
    with pytest.raises(ValueError, match="two-player"):
        play_terminal("CartPole-v1", None, 0, input_fn=ScriptedHuman([]), print_fn=Transcript())


@pytest.fixture(scope="module")
def tictactoe_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "ttt"
    agent = zeroplan.MuZero("tictactoe", set=TINY, run_dir=run_dir, tensorboard=False)
    agent.runner.save("last")
    agent.runner.close()
    return run_dir


def test_play_command_against_a_run(tictactoe_run, capsys):
    out = Transcript()
    code = play_command("tictactoe", tictactoe_run, first=True, render=False, record=None, seed=0,
                        input_fn=ScriptedHuman(["x"]), print_fn=out)
    assert code == 0 and "game over:" in out.text and "against the agent" in out.text


@pytest.mark.parametrize("game, record, message", [
    ("CartPole-v1", None, "trained on tictactoe, not CartPole-v1"),
    ("tictactoe", "x.gif", "--record is for single-player"),
])
def test_play_command_errors_exit_2(tictactoe_run, capsys, game, record, message):
    assert play_command(game, tictactoe_run, record=record, input_fn=ScriptedHuman([]), print_fn=Transcript()) == 2
    assert message in capsys.readouterr().err


def test_play_command_without_a_run(capsys):
    assert play_command("CartPole-v1", None, print_fn=Transcript()) == 2
    assert "give --run RUN_DIR" in capsys.readouterr().err
    out = Transcript()
    assert play_command("tictactoe", None, input_fn=ScriptedHuman(["q"]), print_fn=out) == 0
    assert "against the perfect player" in out.text


def test_record_episode_writes_a_gif(tmp_path):
    from PIL import Image

    torch.set_num_threads(1)
    agent = zeroplan.MuZero("CartPole-v1", set=TINY, tensorboard=False)
    info = record_episode(agent, None, tmp_path / "cartpole.gif", seed=0)
    data = (tmp_path / "cartpole.gif").read_bytes()
    assert data[:6] in (b"GIF89a", b"GIF87a")
    assert info["steps"] >= 1 and info["return"] == info["steps"] and info["frames"] == info["steps"] + 1
    with Image.open(tmp_path / "cartpole.gif") as gif:
        assert gif.n_frames > 1 and gif.size == (600, 400)
    assert np.isfinite(info["return"])


def test_render_without_a_display_points_to_record(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(play, "has_display", lambda: False)
    agent = zeroplan.MuZero("CartPole-v1", set=TINY, tensorboard=False)
    with pytest.raises(play.PlayError, match="no display.*--record FILE.gif"):
        play.watch_episode(agent)


def test_render_opens_a_window(monkeypatch):
    """Window mode end to end, on SDL's off-screen driver: the env draws itself
    (render_mode "human") on every step and the episode runs to its end."""
    pytest.importorskip("pygame")
    torch.set_num_threads(1)
    monkeypatch.setattr(play, "has_display", lambda: True)
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    agent = zeroplan.MuZero("CartPole-v1", set=TINY + ["env.max_episode_steps=20"], tensorboard=False)
    drawn = []
    import gymnasium.envs.classic_control.cartpole as cartpole

    original = cartpole.CartPoleEnv.render
    monkeypatch.setattr(cartpole.CartPoleEnv, "render", lambda self: drawn.append(self.render_mode) or original(self))
    info = play.watch_episode(agent, print_fn=lambda s: pytest.fail("a window episode must not print frames"))
    assert info["mode"] == "human" and 1 <= info["steps"] <= 20
    assert drawn and set(drawn) == {"human"} and len(drawn) >= info["steps"]


def test_render_as_text_for_text_envs(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(play, "has_display", lambda: False)
    agent = zeroplan.MuZero("frozenlake", set=TINY, tensorboard=False)
    out = Transcript()
    info = play.watch_episode(agent, print_fn=out)
    assert info["mode"] == "ansi" and "F" in out.text
