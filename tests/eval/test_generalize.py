"""Generalization tables on an untrained agent: rows, gap arithmetic, table text, plot file."""

from __future__ import annotations

import pytest
import torch

import zeroplan
from zeroplan.envs.gym import EnvError
from zeroplan.envs.variants import Variant, builtin_variants
from zeroplan.eval.generalize import COLUMNS, default_variants, format_table, generalize
from zeroplan.eval.plots import plot_generalization

TINY = ["search.num_simulations=2", "train.num_envs=2", "net.hidden=[16]", "net.latent_dim=8", "net.support_size=5"]


@pytest.fixture(scope="module")
def cartpole_agent():
    torch.set_num_threads(1)
    return zeroplan.MuZero("CartPole-v1", set=TINY, tensorboard=False)


def test_rows_and_gap_arithmetic(cartpole_agent):
    variants = [Variant("long", scale={"length": 2.0}), Variant("weak", physics={"force_mag": 2.0}),
                Variant("sticky", sticky_actions=0.5)]
    rows = generalize(cartpole_agent, episodes=3, seed=1, variants=variants)
    assert [r["variant"] for r in rows] == ["train", "long", "weak", "sticky"]
    for row in rows:
        assert tuple(row) == COLUMNS
        assert row["gap"] == pytest.approx(row["mean_return"] - rows[0]["mean_return"])
        assert row["std_return"] >= 0 and row["mean_return"] >= 1  # CartPole pays 1 per step survived
    assert rows[0]["gap"] == 0.0
    assert rows[2]["mean_return"] != rows[0]["mean_return"]  # a fifth of the force changes how long it lasts
    assert generalize(cartpole_agent, episodes=3, seed=1, variants=variants) == rows  # reproducible


def test_default_variants_give_one_row_each(cartpole_agent):
    rows = generalize(cartpole_agent, episodes=1, seed=0)
    assert [r["variant"] for r in rows] == ["train"] + [v.name for v in builtin_variants(cartpole_agent.config.env)]


def test_default_variants_without_a_config_field_are_the_builtins(cartpole_agent):
    assert default_variants(cartpole_agent.config) == builtin_variants(cartpole_agent.config.env)


def test_a_variant_with_other_shapes_is_refused_before_playing():
    agent = zeroplan.MuZero("FrozenLake-v1", set=TINY, tensorboard=False)
    with pytest.raises(EnvError, match=r"'big'.*\(64,\).*\(16,\)"):
        generalize(agent, 1, 0, variants=[Variant("big", env_kwargs={"map_name": "8x8"})])


def test_two_player_games_are_refused():
    agent = zeroplan.MuZero("tictactoe", set=TINY, tensorboard=False)
    with pytest.raises(EnvError, match="single-player"):
        generalize(agent, 1, 0)


def test_table_and_plot(tmp_path):
    rows = [{"variant": "train", "mean_return": 200.0, "std_return": 10.0, "gap": 0.0},
            {"variant": "pole length x2", "mean_return": 150.5, "std_return": 20.0, "gap": -49.5}]
    table = format_table(rows)
    lines = table.splitlines()
    assert len(lines) == 4 and "pole length x2" in lines[3] and "-49.50" in lines[3] and "200.00" in lines[2]
    path = plot_generalization(rows, tmp_path / "sub" / "gen.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot_generalization([], tmp_path / "empty.png")
