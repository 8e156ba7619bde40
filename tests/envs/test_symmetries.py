"""Board symmetries: they must commute with the rules, and augmentation must
transform a training sample consistently (observation, actions, policy targets)."""

from __future__ import annotations

import numpy as np
import pytest

from zeroplan.config import ConfigError, load_config
from zeroplan.envs.games.connect4 import Connect4
from zeroplan.envs.games.tictactoe import TicTacToe
from zeroplan.envs.spec import Symmetry, env_symmetries
from zeroplan.muzero.replay import Batch, augment
from tests.helpers import assert_commutes

GAMES = [TicTacToe, Connect4]


@pytest.mark.parametrize("game", GAMES)
def test_symmetries_commute_with_the_rules(game):
    for sym in env_symmetries(game()):
        assert_commutes(game, sym)


def test_a_wrong_symmetry_is_caught():
    """The check above can fail: a mirrored board whose moves are not mirrored."""
    cells = np.arange(9).reshape(3, 3)
    wrong = Symmetry.of_grid(3, cells[:, ::-1], np.arange(9))
    with pytest.raises(AssertionError):
        assert_commutes(TicTacToe, wrong, games=5)


def test_tictactoe_has_the_squares_seven_other_symmetries():
    syms = env_symmetries(TicTacToe())
    identity = np.arange(27)
    keys = {tuple(s.obs_index) for s in syms}
    assert len(syms) == 7 and len(keys) == 7 and tuple(identity) not in keys
    for s in syms:  # closed under composition: the group of the square
        for t in syms:
            composed = tuple(s.obs_index[t.obs_index])
            assert composed in keys or composed == tuple(identity)
    assert len(env_symmetries(Connect4())) == 1


def test_of_grid_refuses_what_is_not_a_permutation():
    with pytest.raises(ValueError, match="permutation of the cells"):
        Symmetry.of_grid(1, np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="permutation of the actions"):
        Symmetry.of_grid(1, np.arange(4).reshape(2, 2), [0, 0])


def _tictactoe_batch(rows: int, unroll: int, stack: int, rng) -> tuple[Batch, list[list[int]]]:
    """Samples cut from random games; the policy target at each step is one-hot on the move played."""
    obs, actions, policies, games = [], [], [], []
    while len(obs) < rows:
        env = TicTacToe()
        frames = [env.reset(seed=len(obs))]
        moves = []
        for _ in range(3 + unroll):
            move = int(rng.choice(np.flatnonzero(env.legal_mask())))
            moves.append(move)
            ob, _, done, _ = env.step(move)
            frames.append(ob)
            if done:
                break
        if len(moves) < 3 + unroll:
            continue
        start = 3
        obs.append(np.concatenate(frames[start - stack + 1:start + 1], axis=0))
        actions.append(moves[start:start + unroll])
        policies.append(np.eye(9)[moves[start:start + unroll] + [0]])
        games.append(moves)
    b = len(obs)
    batch = Batch(obs=np.stack(obs).astype(np.float32), actions=np.array(actions, dtype=np.int64),
                  target_values=rng.normal(size=(b, unroll + 1)).astype(np.float32),
                  target_rewards=rng.normal(size=(b, unroll + 1)).astype(np.float32),
                  target_policies=np.stack(policies).astype(np.float32),
                  value_mask=np.ones((b, unroll + 1), np.float32), reward_mask=np.ones((b, unroll + 1), np.float32),
                  policy_mask=np.ones((b, unroll + 1), np.float32), weights=np.ones(b, np.float32),
                  slots=np.arange(b), episode_ids=np.arange(b), starts=np.full(b, 3))
    return batch, games


def test_augment_transforms_each_sample_consistently():
    rng = np.random.default_rng(1)
    syms = list(env_symmetries(TicTacToe()))
    batch, _ = _tictactoe_batch(400, unroll=3, stack=2, rng=rng)
    before = {k: v.copy() for k, v in vars(batch).items() if v is not None}
    augment(batch, syms, np.random.default_rng(2))
    used = set()
    for i in range(len(batch.obs)):
        matches = [j for j, s in enumerate([None] + syms)
                   if (s is None and np.array_equal(batch.obs[i], before["obs"][i])
                       and np.array_equal(batch.actions[i], before["actions"][i]))
                   or (s is not None
                       and np.array_equal(batch.obs[i].reshape(2, -1), before["obs"][i].reshape(2, -1)[:, s.obs_index])
                       and np.array_equal(batch.actions[i], s.action_map[before["actions"][i]]))]
        assert matches, f"row {i} is not the sample under any symmetry"
        used.update(matches)
        # the policy target still points at the (mapped) move that was played
        np.testing.assert_array_equal(batch.target_policies[i, :3].argmax(-1), batch.actions[i])
    assert used == set(range(8))  # every symmetry and the identity were drawn
    for key in ("target_values", "target_rewards", "value_mask", "reward_mask", "policy_mask", "weights", "slots"):
        np.testing.assert_array_equal(getattr(batch, key), before[key])
    changed = np.mean([not np.array_equal(batch.obs[i], before["obs"][i]) for i in range(len(batch.obs))])
    assert 0.7 < changed < 0.95  # 7 of 8 draws transform (a few positions are symmetric themselves)


def test_augment_without_symmetries_leaves_the_batch_and_the_rng_alone():
    rng = np.random.default_rng(3)
    batch, _ = _tictactoe_batch(20, unroll=2, stack=1, rng=rng)
    before = batch.obs.copy()
    gen = np.random.default_rng(4)
    state = gen.bit_generator.state
    augment(batch, [], gen)
    np.testing.assert_array_equal(batch.obs, before)
    assert gen.bit_generator.state == state


def test_augment_on_an_env_without_symmetries_is_refused():
    from zeroplan.runners.local import LocalRunner

    config = load_config("cartpole", dotted=["replay.augment_symmetries=true"])
    with pytest.raises(ConfigError, match="replay.augment_symmetries.*CartPole-v1 declares no symmetries"):
        LocalRunner(config, None, tensorboard=False)


def test_tictactoe_trains_with_augmentation():
    from zeroplan.runners.local import LocalRunner

    config = load_config("tictactoe", dotted=[
        "replay.augment_symmetries=true", "search.num_simulations=4", "train.num_envs=4", "train.min_replay_size=32",
        "replay.batch_size=16", "net.hidden=[32]", "net.latent_dim=16", "run.eval_interval=1000",
        "run.eval_opponent=random", "run.eval_episodes=2"])
    runner = LocalRunner(config, None, tensorboard=False)
    assert len(runner.symmetries) == 7
    result = runner.train(max_env_steps=200)
    assert result.train_steps > 0 and runner.learner.skipped_updates == 0
