"""Every shipped preset is a valid config; the slippery FrozenLake one (the
max_q bootstrap from the state itself, random moves) and the connect-four one
(a conv net, mirrored games) train end to end."""

from __future__ import annotations

import numpy as np
import pytest

import zeroplan
from zeroplan.config import load_config, preset_names
from zeroplan.mbrl.config import PetsConfig


@pytest.mark.parametrize("name", preset_names())
def test_every_muzero_preset_validates(name):
    assert load_config(name).env.id


@pytest.mark.parametrize("name", preset_names("pets"))
def test_every_pets_preset_validates(name):
    assert load_config(name, model=PetsConfig, family="pets").env.id


@pytest.mark.slow
def test_the_slippery_frozenlake_preset_trains_with_greedy_value_targets(tmp_path):
    agent = zeroplan.MuZero("FrozenLake-v1", seed=0, run_dir=tmp_path, tensorboard=False,
                            set=["train.min_replay_size=100", "run.eval_interval=100000"])
    cfg = agent.config
    assert (cfg.train.bootstrap, cfg.replay.td_steps) == ("max_q", 0) and cfg.train.random_action_fraction > 0
    result = agent.learn(total_env_steps=800)
    assert result.env_steps >= 800 and result.train_steps > 0
    replay = agent.runner.replay
    batch = replay.sample(64, np.random.default_rng(0),
                          lambda obs, legal: np.full(len(obs), 0.25))  # a stand-in lookahead
    # td_steps 0: every live value target is the lookahead at that very state.
    live = batch.value_mask > 0
    assert np.isin(np.round(batch.target_values[live], 6), [0.0, 0.25]).all()


@pytest.mark.slow
def test_the_connect4_preset_trains_its_conv_net_on_mirrored_games(tmp_path):
    agent = zeroplan.MuZero("connect4", seed=0, run_dir=tmp_path, tensorboard=False,
                            set=["train.min_replay_size=200", "run.eval_interval=100000", "train.num_envs=8"])
    net = agent.runner.net
    assert (agent.config.net.kind, net.core.action_encoding) == ("resnet", "column")
    assert len(agent.runner.symmetries) == 1  # the mirror image
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = agent.learn(total_env_steps=600)
    assert result.env_steps >= 600 and result.train_steps > 0
    changed = [k for k, v in net.state_dict().items() if not np.array_equal(v.numpy(), before[k].numpy())]
    assert any(k.startswith("core.dynamics_net") for k in changed)
    assert any(k.startswith("core.value_head.hidden") for k in changed)  # the heads' hidden layer learns too


def test_chance_presets_are_found_by_name_only():
    """An env id gets its plain preset; the Stochastic MuZero variants (chance codes) are asked for by name."""
    from zeroplan.config import preset_for

    assert preset_for("FrozenLake-v1") == "frozenlake-slippery" and preset_for("2048") == "2048"
    assert load_config("frozenlake-chance").net.chance_codes == 4 and load_config("2048-chance").net.chance_codes
    assert load_config("FrozenLake-v1").net.chance_codes == 0 == load_config("2048").net.chance_codes


def test_a_shared_preset_serves_each_of_its_env_ids():
    """The MinAtar preset is found by any of its games' ids, which then becomes env.id."""
    from zeroplan.config import preset_for

    for game in ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"):
        env_id = f"MinAtar/{game}-v1"
        assert preset_for(env_id) == preset_for(env_id.lower()) == "minatar"
        config = load_config(env_id)
        assert config.env.id == env_id and config.net.kind == "resnet"
    assert load_config("minatar").env.id == "MinAtar/Breakout-v1"
    assert load_config("MinAtar/Breakout-v0").net.kind == "mlp"  # v0 (all 6 actions) is not one of its ids
