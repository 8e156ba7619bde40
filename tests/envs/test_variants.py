"""Perturbed environments: each variant really changes what it claims to, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import EnvConfig
from zeroplan.envs import make_env
from zeroplan.envs.games.tictactoe import TicTacToe
from zeroplan.envs.gym import EnvError
from zeroplan.envs.variants import (ALLOWED_KEYS, Variant, builtin_variants, merge_variants, parse_variants,
                                    variant_factory)
from zeroplan.envs.wrappers import ObservationNoise, StickyActions

CARTPOLE = EnvConfig(id="CartPole-v1")
ACTIONS = [0, 1, 1, 0, 1, 1, 1, 0, 0, 1]


def rollout(env, actions=ACTIONS, seed=3):
    obs = [env.reset(seed=seed)]
    for a in actions:
        ob, _, terminated, truncated = env.step(a)
        obs.append(ob)
        if terminated or truncated:
            break
    return np.array(obs)


@pytest.mark.parametrize("variant", [v for v in builtin_variants(CARTPOLE) if v.scale], ids=lambda v: v.name)
def test_cartpole_physics_variants_change_the_trajectory(variant):
    clean = rollout(make_env(CARTPOLE))
    changed = rollout(variant_factory(CARTPOLE, variant, seed=0)())
    assert np.array_equal(clean[0], changed[0])  # same start state: only the dynamics differ
    assert not np.allclose(clean[1:], changed[1:])


def test_pole_length_recomputes_derived_constants():
    env = variant_factory(CARTPOLE, Variant("long", scale={"length": 2.0}, physics={"masspole": 0.3}), 0)()
    inner = env.env.unwrapped
    assert inner.length == pytest.approx(1.0) and inner.masspole == pytest.approx(0.3)
    assert inner.polemass_length == pytest.approx(0.3)  # not the stale 0.1 * 0.5
    assert inner.total_mass == pytest.approx(1.3)


def test_unknown_physics_attribute_names_the_available_ones():
    make = variant_factory(CARTPOLE, Variant("bad", physics={"pole_length": 1.0}), 0)
    with pytest.raises(EnvError, match=r"'pole_length'.*gravity.*length"):
        make()


def test_physics_on_a_native_game_is_refused():
    make = variant_factory(EnvConfig(id="tictactoe"), Variant("bad", scale={"gravity": 2.0}), 0)
    with pytest.raises(EnvError, match="Gymnasium"):
        make()


def test_sticky_actions_with_p1_repeat_the_first_action():
    env = variant_factory(CARTPOLE, Variant("sticky", sticky_actions=1.0), 0)()
    sticky = rollout(env, actions=[0, 1, 1, 0, 1])
    clean = rollout(make_env(CARTPOLE), actions=[0, 0, 0, 0, 0])
    assert np.array_equal(sticky, clean)
    assert env.last_executed == 0


def test_sticky_actions_with_p0_play_the_chosen_action():
    env = StickyActions(make_env(CARTPOLE), 0.0, seed=1)
    assert np.array_equal(rollout(env), rollout(make_env(CARTPOLE)))


def test_sticky_actions_never_repeat_an_illegal_move():
    env = StickyActions(TicTacToe(), 1.0, seed=0)
    env.reset(seed=0)
    env.step(0)
    env.step(4)  # cell 0 is taken, so the chosen move is played
    assert env.board()[4] == 2 and env.last_executed == 4


def test_sticky_actions_are_reproducible_and_seed_dependent():
    def executed(seed):
        env = StickyActions(make_env(CARTPOLE), 0.5, seed=seed)
        env.reset(seed=7)
        out = []
        for a in [0, 1] * 5:
            _, _, term, trunc = env.step(a)
            out.append(env.last_executed)
        return out

    assert executed(1) == executed(1)
    assert any(executed(s) != executed(1) for s in range(2, 6))


def test_observation_noise_changes_observations_not_dynamics():
    make = variant_factory(CARTPOLE, Variant("noisy", obs_noise=0.1), seed=0)
    noisy_env, clean_env = make(), make_env(CARTPOLE)
    noisy_env.reset(seed=3)
    clean_env.reset(seed=3)
    for a in ACTIONS[:6]:
        noisy, r1, t1, _ = noisy_env.step(a)
        clean, r2, t2, _ = clean_env.step(a)
        assert not np.allclose(noisy, clean)
        assert np.abs(noisy - clean).max() < 1.0
        assert (r1, t1) == (r2, t2)
        assert np.array_equal(noisy_env.env.env.unwrapped.state, clean_env.env.unwrapped.state)
        assert noisy.dtype == np.float32
    again = make()
    assert np.array_equal(rollout(again), rollout(make()))  # same seeds, same noise


def test_observation_noise_delegates_extras():
    env = ObservationNoise(TicTacToe(), 0.1, seed=0)
    env.reset(seed=0)
    env.step(4)
    assert env.board()[4] == 1 and env.to_play() == 1 and "X" in env.render()


def test_frozenlake_variants_use_other_maps_of_the_same_size():
    config = EnvConfig(id="FrozenLake-v1")
    default_desc = make_env(config).env.unwrapped.desc
    maps = [v for v in builtin_variants(config) if "desc" in v.env_kwargs]
    assert len(maps) == 2
    for v in maps:
        env = variant_factory(config, v, 0)()
        desc = env.env.unwrapped.desc
        assert desc.shape == default_desc.shape and not np.array_equal(desc, default_desc)
        assert env.spec == make_env(config).spec
    slippery = next(v for v in builtin_variants(config) if "is_slippery" in v.env_kwargs)
    assert variant_factory(config, slippery, 0)().env.spec.kwargs["is_slippery"] is False


def test_frozenlake_8x8_gets_8x8_maps():
    config = EnvConfig(id="FrozenLake-v1", kwargs={"map_name": "8x8"})
    maps = [v.env_kwargs["desc"] for v in builtin_variants(config) if "desc" in v.env_kwargs]
    assert all(len(m) == 8 and all(len(row) == 8 for row in m) for m in maps)


def test_any_env_gets_noise_and_sticky_variants():
    names = [v.name for v in builtin_variants(EnvConfig(id="Acrobot-v1"))]
    assert names == ["obs noise 0.1", "sticky 0.25"]


def test_parse_variants_round_trip():
    entries = [{"name": "moon", "physics": {"gravity": 1.62}},
               {"name": "long noisy", "scale": {"length": 3}, "obs_noise": 0.05, "sticky_actions": 0.1}]
    parsed = parse_variants(entries)
    assert parsed[0] == Variant("moon", physics={"gravity": 1.62})
    assert parsed[1].scale == {"length": 3} and parsed[1].sticky_actions == 0.1
    env = variant_factory(CARTPOLE, parsed[0], 0)()
    assert env.env.unwrapped.gravity == pytest.approx(1.62)


@pytest.mark.parametrize("entries, message", [
    ([{"name": "a", "lenght": 2}], r"eval_variants\[0\]: unknown key 'lenght' \(allowed keys: " + ", ".join(ALLOWED_KEYS)),
    ([{"physics": {"gravity": 1.0}}], r"eval_variants\[0\]: missing 'name'"),
    ([{"name": "a", "obs_noise": 0.1}, "sticky"], r"eval_variants\[1\]: expected a mapping"),
    ([{"name": "a", "sticky_actions": 1.5}], r"eval_variants\[0\]: .*'a'.*probability"),
    ([{"name": "a", "obs_noise": -1}], r"obs_noise must be a number >= 0"),
    ([{"name": "a", "physics": {"gravity": "high"}}], r"physics.gravity must be a finite number"),
    ([{"name": "a", "scale": [2]}], r"scale must be a mapping"),
    ([{"name": "a"}], r"'a' changes nothing"),
    ([{"name": "train", "obs_noise": 0.1}], r"reserved"),
    ([{"name": "", "obs_noise": 0.1}], r"non-empty"),
    ([{"name": "a", "obs_noise": 0.1}, {"name": "a", "sticky_actions": 0.1}], r"eval_variants\[1\]: duplicate"),
    ({"name": "a"}, r"must be a list"),
])
def test_parse_variants_errors_name_the_entry(entries, message):
    with pytest.raises(ValueError, match=message):
        parse_variants(entries)


def test_declared_variants_replace_builtins_of_the_same_name():
    builtin = builtin_variants(CARTPOLE)
    mine = Variant("sticky 0.25", sticky_actions=0.9)
    merged = merge_variants(builtin, [mine])
    assert len(merged) == len(builtin) and merged[-1] is mine
    assert [v.name for v in merged].count("sticky 0.25") == 1


def test_sticky_actions_repeat_a_continuous_action():
    """A Box action (Sampled MuZero) is repeated as the vector it was."""
    from zeroplan.config import EnvConfig

    pendulum = EnvConfig(id="Pendulum-v1")
    env = variant_factory(pendulum, Variant("sticky", sticky_actions=1.0), 0)()
    env.reset(seed=3)
    for a in ([0.5], [-1.0], [1.0]):
        env.step(np.array(a, np.float32))
        np.testing.assert_array_equal(env.last_executed, [0.5])
    assert env.env.env.unwrapped.last_u == pytest.approx(1.0)  # 0.5 of the torque bound 2
