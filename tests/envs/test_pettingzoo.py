"""The PettingZoo adapter: PettingZoo's own API test on the games we adapt, and the
native engines played side by side with PettingZoo's, move for move.

pettingzoo is in the dev extra, so these run in CI; `importorskip` only spares a
bare install.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from zeroplan.config import EnvConfig  # noqa: E402
from zeroplan.envs import NATIVE_GAMES, PETTINGZOO_GAMES, make_env  # noqa: E402
from zeroplan.envs.games.connect4 import Connect4  # noqa: E402
from zeroplan.envs.games.tictactoe import TicTacToe  # noqa: E402
from zeroplan.envs.gym import EnvError  # noqa: E402
from zeroplan.envs.pettingzoo import CLASSIC_GAMES, PettingZooEnv, make_aec  # noqa: E402
from zeroplan.envs.spec import TurnBasedEnv  # noqa: E402


def ttt_to_pz(a: int) -> int:
    """Native tic-tac-toe numbers cells row-major, PettingZoo's column-major."""
    return 3 * (a % 3) + a // 3


GAMES = {
    # native engine, action map native -> PettingZoo, observation map PettingZoo -> native
    "tictactoe_v3": (TicTacToe, ttt_to_pz, lambda obs: obs.transpose(0, 2, 1)),
    "connect_four_v3": (Connect4, lambda a: a, lambda obs: obs),
}


@pytest.mark.parametrize("name", sorted(CLASSIC_GAMES))
def test_pettingzoo_api_test_passes(name):
    with warnings.catch_warnings():
        # pettingzoo.test imports the deprecated `pettingzoo.classic.<game>` modules itself.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "Observation numpy array is all zeros")  # the empty board
        from pettingzoo.test import api_test

        api_test(make_aec(name), num_cycles=200, verbose_progress=False)


@pytest.mark.slow  # thousands of random games through both engines
@pytest.mark.parametrize("name, games", [("tictactoe_v3", 3000), ("connect_four_v3", 1500)])
def test_native_engine_agrees_with_pettingzoo_move_by_move(name, games):
    native_cls, to_pz, from_pz = GAMES[name]
    native, pz = native_cls(), make_env(EnvConfig(id=f"pettingzoo:{name}"))
    perm = np.array([to_pz(a) for a in range(native.spec.num_actions)])
    assert pz.spec.obs_shape == native.spec.obs_shape and pz.spec.num_actions == native.spec.num_actions
    rng = np.random.default_rng(0)
    outcomes = {0: 0, 1: 0, -1: 0}
    for game in range(games):
        obs_n, obs_p = native.reset(), pz.reset(seed=game)
        while True:
            np.testing.assert_array_equal(from_pz(obs_p), obs_n)
            mask = native.legal_mask()
            np.testing.assert_array_equal(pz.legal_mask()[perm], mask)
            assert pz.to_play() == native.to_play()
            legal = np.flatnonzero(mask)
            if legal.size == 0:
                break
            a = int(legal[rng.integers(legal.size)])
            obs_n, r_n, term_n, trunc_n = native.step(a)
            obs_p, r_p, term_p, trunc_p = pz.step(int(perm[a]))
            assert (r_n, term_n, trunc_n) == (r_p, term_p, trunc_p)
        assert native.winner() == pz.winner() and native.is_over() and pz.is_over()
        outcomes[native.winner()] += 1
    # The random games cover every ending: wins for either side and draws.
    assert min(outcomes.values()) > 0, outcomes


def test_adapter_follows_the_contract():
    env = make_env(EnvConfig(id="pettingzoo:connect_four_v3"))
    assert isinstance(env, PettingZooEnv) and isinstance(env, TurnBasedEnv)
    assert env.spec.num_players == 2 and env.spec.obs_shape == (3, 6, 7)
    obs = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs[2].all() and env.to_play() == 0
    for c in (0, 0, 1, 1, 2, 2):
        _, reward, term, trunc = env.step(c)
        assert reward == 0.0 and not term and not trunc
    assert env.to_play() == 0
    obs, reward, term, trunc = env.step(3)  # four along the bottom for player 0
    assert reward == 1.0 and term and not trunc  # the mover's own reward
    assert env.winner() == 0 and env.to_play() == 1 and not obs[2].any()
    assert not env.legal_mask().any()
    with pytest.raises(ValueError, match="over"):
        env.step(4)


def test_adapter_rejects_illegal_actions_itself():
    env = make_env(EnvConfig(id="pettingzoo:connect_four_v3"))
    env.reset()
    for _ in range(6):
        env.step(5)
    with pytest.raises(ValueError, match="illegal action 5"):
        env.step(5)
    with pytest.raises(ValueError, match="out of range"):
        env.step(7)
    with pytest.raises(ValueError, match="integer"):
        env.step("3")
    assert not env.is_over() and env.to_play() == 0  # PettingZoo never saw those
    env.step(0)
    assert env.to_play() == 1


def test_make_env_ids():
    assert NATIVE_GAMES == ("tictactoe", "connect4", "2048")
    assert isinstance(make_env(EnvConfig(id="connect4")), Connect4)
    assert type(make_env(EnvConfig(id="2048"))).__name__ == "Game2048"
    for env_id in PETTINGZOO_GAMES:
        assert isinstance(make_env(EnvConfig(id=env_id)), PettingZooEnv)
    with pytest.raises(EnvError, match="not supported"):
        make_env(EnvConfig(id="pettingzoo:chess_v6"))


def test_missing_pettingzoo_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, CLASSIC_GAMES["connect_four_v3"], None)
    with pytest.raises(EnvError, match=r"zeroplan\[pettingzoo\]"):
        make_aec("connect_four_v3")


def test_package_imports_without_pettingzoo():
    """Block every pettingzoo import in a fresh interpreter: zeroplan and the native games
    still work, and only building a PettingZoo env complains."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pettingzoo' or name.startswith('pettingzoo.'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import zeroplan, zeroplan.envs.pettingzoo, zeroplan.envs.experts\n"
        "from zeroplan.config import EnvConfig\n"
        "from zeroplan.envs import make_env\n"
        "env = make_env(EnvConfig(id='connect4')); env.reset(); env.step(3)\n"
        "try:\n"
        "    make_env(EnvConfig(id='pettingzoo:tictactoe_v3'))\n"
        "except ValueError as err:\n"
        "    assert 'zeroplan[pettingzoo]' in str(err), err\n"
        "else:\n"
        "    raise SystemExit('expected an error')\n"
        "assert not any(m.startswith('pettingzoo') for m in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow  # two short training runs through the command line
@pytest.mark.parametrize("game", ["connect_four_v3", "tictactoe_v3"])
def test_a_pettingzoo_game_trains_through_its_evaluations_and_evaluates_both_sides(tmp_path, game):
    """No expert opponent for PettingZoo's games: evaluation falls back to random
    play, says so, and `zeroplan eval` reports both sides."""
    import json

    from tests.helpers import run_cli, run_cli_out

    run = tmp_path / "run"
    code, err = run_cli("train", f"pettingzoo:{game}", "--max-env-steps", "240", "--run-dir", str(run),
                        "--no-progress", "--set", "search.num_simulations=4", "--set", "train.num_envs=4",
                        "--set", "train.min_replay_size=32", "--set", "run.eval_interval=80",
                        "--set", "run.eval_episodes=2", "--set", "net.hidden=[32]")
    assert code == 0, err
    assert f"run.eval_opponent=random (pettingzoo:{game} has no expert opponent)" in err
    rows = (run / "metrics.csv").read_text().splitlines()
    assert sum("," in row and row.split(",")[0] in ("80", "160", "240") for row in rows[1:]) >= 3
    assert (run / "checkpoints" / "best").is_dir()
    code, out, err = run_cli_out("eval", str(run), "--games", "3", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["opponent"] == "random"
    assert all(sum(result[side].values()) == 3 for side in ("first", "second"))
