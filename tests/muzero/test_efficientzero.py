"""EfficientZero's parts as switches on the one MuZero: the temporal
consistency loss and the age-shrunk bootstrap horizon."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.helpers import episode

from zeroplan.config import ReplayConfig, TrainConfig, load_config
from zeroplan.envs.spec import Symmetry
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.replay import Replay, augment
from zeroplan.nets.build import build_net
from zeroplan.nets.muzero_net import MuZeroNet


def small_net(kind: str = "mlp") -> MuZeroNet:
    torch.manual_seed(0)
    if kind == "mlp":
        return MuZeroNet((4,), 2, latent_dim=8, hidden=(16,), support_size=3, projection_dim=6)
    return MuZeroNet((2, 3, 3), 9, kind="resnet", channels=4, blocks=1, support_size=3, projection_dim=6)


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_consistency_loss_sends_no_gradient_into_the_target_branch(kind):
    net = small_net(kind)
    shape = (4,) if kind == "mlp" else (2, 3, 3)
    obs = torch.rand((5,) + shape)
    actions = torch.randint(0, net.num_actions, (5, 3))
    *_, latents = net.unroll(obs, actions, with_latents=True)
    later = torch.rand((15,) + shape, requires_grad=True)
    loss = net.consistency_loss(latents, later).sum()
    loss.backward()
    # The observations' branch is a target: no gradient reaches its input...
    assert later.grad is None
    # ...while the online branch (dynamics, heads) is trained by it.
    dynamics = [p for name, p in net.named_parameters() if "dynamics" in name]
    assert dynamics and any(p.grad is not None and p.grad.abs().sum() > 0 for p in dynamics)
    heads = net.consistency.predictor[0].weight.grad
    assert heads is not None and heads.abs().sum() > 0


def test_consistency_loss_is_the_negative_cosine_by_hand():
    net = small_net()
    latents, later = torch.rand(3, 8), torch.rand(3, 4)
    heads = net.consistency
    online = heads.predict(heads.project(latents))
    target = heads.project(net._represent(later))
    cos = (online * target).sum(-1) / (online.norm(dim=-1) * target.norm(dim=-1))
    torch.testing.assert_close(net.consistency_loss(latents, later), -cos)


def test_a_net_without_the_heads_draws_the_same_weights():
    torch.manual_seed(3)
    plain = MuZeroNet((4,), 2, latent_dim=8, hidden=(16,))
    torch.manual_seed(3)
    with_heads = MuZeroNet((4,), 2, latent_dim=8, hidden=(16,), projection_dim=6)
    for name, value in plain.state_dict().items():
        assert torch.equal(value, with_heads.state_dict()[name]), name
    with pytest.raises(ValueError, match="no consistency heads"):
        plain.consistency_loss(torch.rand(2, 8), torch.rand(2, 4))


def batch_with_future(replay: Replay, k: int):
    b = replay.batch_for(np.arange(len(replay)), np.ones(len(replay), np.float32), np.random.default_rng(0))
    b.next_obs, b.next_obs_mask = replay.future_obs(b.episode_ids, b.starts, k)
    return b


def test_future_observations_and_their_mask():
    replay = Replay(ReplayConfig(capacity=50, unroll_steps=3, td_steps=2), num_actions=2, discount=0.9)
    replay.add(episode([1, 0, 0, 1], [0.1] * 5))  # obs[i] = [i], states 0..4
    b = batch_with_future(replay, 3)
    for i, t in enumerate(b.starts):
        expect = [min(t + k, 4) for k in (1, 2, 3)]  # past the end the last state stands in
        np.testing.assert_array_equal(b.next_obs[i, :, 0], expect)
        np.testing.assert_array_equal(b.next_obs_mask[i], [float(t + k <= 4) for k in (1, 2, 3)])


def test_learner_adds_the_weighted_consistency_loss_only_where_states_are_real():
    replay = Replay(ReplayConfig(capacity=50, unroll_steps=3, td_steps=2), num_actions=2, discount=0.9)
    ep = episode([1, 0, 0, 1], [0.1] * 5)
    ep.obs = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    replay.add(ep)
    b = batch_with_future(replay, 3)
    net = small_net()
    on = Learner(net, TrainConfig(consistency_weight=2.0), support_size=3, unroll_steps=3)
    loss, parts, _ = on.losses(b)
    off_loss, off_parts, _ = Learner(net, TrainConfig(), support_size=3, unroll_steps=3).losses(b)
    assert "consistency_loss" in parts and "consistency_loss" not in off_parts
    torch.testing.assert_close(loss, off_loss + 2.0 * parts["consistency_loss"])
    b.next_obs_mask[:] = 0.0  # no real later state anywhere: nothing to compare
    assert float(on.losses(b)[1]["consistency_loss"].detach()) == 0.0


def test_symmetries_transform_the_future_observations_too():
    replay = Replay(ReplayConfig(capacity=50, unroll_steps=2, td_steps=2), num_actions=2, discount=0.9)
    ep = episode([0, 0, 1], [0.0] * 4)
    ep.obs = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    replay.add(ep)
    b = batch_with_future(replay, 2)
    before = b.next_obs.copy()
    flip = Symmetry(obs_index=np.array([2, 1, 0]), action_map=np.array([1, 0]))
    rng = np.random.default_rng(0)
    augment(b, [flip], rng)
    flipped = np.flatnonzero(np.random.default_rng(0).integers(2, size=len(b.obs)) == 1)
    assert flipped.size
    np.testing.assert_array_equal(b.next_obs[flipped], before[flipped][..., ::-1])


def test_the_bootstrap_horizon_shrinks_with_age_by_hand():
    # td_steps 5, one step less per 10 transitions of age, never below 1.
    replay = Replay(ReplayConfig(capacity=500, unroll_steps=0, td_steps=5, td_shrink_every=10), num_actions=2,
                    discount=1.0)
    old = replay.add(episode([1.0] * 12, [0.0] * 13))  # ages count from when an episode entered
    assert replay.td_horizons(np.array([old])).tolist() == [5]
    mid = replay.add(episode([1.0] * 10, [0.0] * 11))  # old is 10 transitions old: 5 - 1 = 4
    assert replay.td_horizons(np.array([old, mid])).tolist() == [4, 5]
    replay.add(episode([1.0] * 30, [0.0] * 31))
    new = replay.add(episode([1.0] * 3, [0.0] * 4))  # old 43 old: 5 - 4 = 1; mid 33: 5 - 3 = 2; new 0
    assert replay.td_horizons(np.array([old, mid, new])).tolist() == [1, 2, 5]
    # The targets follow: rewards of 1 and values of 0, so a target is its horizon's reward count.
    b = replay.batch_for(np.arange(len(replay)), np.ones(len(replay), np.float32), np.random.default_rng(0))
    first = np.flatnonzero((b.episode_ids == old) & (b.starts == 0))[0]
    assert b.target_values[first, 0] == 1.0  # one reward, not five
    newest = np.flatnonzero((b.episode_ids == new) & (b.starts == 0))[0]
    assert b.target_values[newest, 0] == 3.0  # the episode's three rewards (5 > 3 left)


def test_recomputed_parts_equal_the_stored_ones_at_the_configured_horizon():
    rng = np.random.default_rng(4)
    replay = Replay(ReplayConfig(capacity=500, td_steps=4), num_actions=2, discount=0.9)
    for length in (3, 7, 12):
        ep = episode(rng.normal(size=length).astype(np.float32), rng.normal(size=length + 1),
                     to_play=np.arange(length + 1) % 2)
        replay.add(ep)
    st = replay._store
    rows = st.live_row_index()
    prefix, boot, disc = st.n_step_parts(rows, np.full(rows.shape, 4))
    np.testing.assert_allclose(prefix, st.prefix[rows])
    np.testing.assert_array_equal(boot, rows + st.boot_steps[rows])
    np.testing.assert_allclose(disc, st.boot_discount[rows])


def test_the_consistency_heads_are_built_only_when_the_loss_is_on():
    sets = ["net.hidden=[16]", "net.latent_dim=8", "net.projection_dim=12"]
    off = build_net(load_config("cartpole", dotted=sets + ["train.consistency_weight=0"]), (4,), 2)
    on = build_net(load_config("cartpole", dotted=sets + ["train.consistency_weight=1"]), (4,), 2)
    assert off.consistency is None
    assert on.consistency.projection[0].out_features == 12


def test_value_prefix_targets_are_running_sums_that_reset_by_hand():
    from zeroplan.muzero.learner import value_prefix_targets

    rewards = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 0.0, -1.0, 2.0]])
    torch.testing.assert_close(value_prefix_targets(rewards, 2),
                               torch.tensor([[1.0, 3.0, 3.0, 7.0, 5.0], [0.0, 1.0, 0.0, -1.0, 2.0]]))
    torch.testing.assert_close(value_prefix_targets(rewards, 5), rewards.cumsum(1))
    torch.testing.assert_close(value_prefix_targets(rewards, 1), rewards)


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_the_search_sees_differences_of_the_trained_prefix(kind):
    """The rewards the search gets along a path are the differences of the
    prefixes the training unroll predicts on the same path, resetting where
    training resets; the search's embeddings carry the recurrent state."""
    from zeroplan.nets.search_model import SearchModel

    torch.manual_seed(1)
    shape, actions = ((4,), 2) if kind == "mlp" else ((2, 3, 3), 9)
    net = MuZeroNet(shape, actions, kind=kind, latent_dim=8, hidden=(16,), channels=4, blocks=1, support_size=5,
                    value_prefix_hidden=6, value_prefix_horizon=3)
    for p in net.value_prefix.parameters():
        torch.nn.init.normal_(p, std=0.5)
    obs = torch.rand((4,) + shape)
    path = torch.randint(0, actions, (4, 7))
    net.eval()  # as the search runs it (BatchNorm on running statistics)
    with torch.no_grad():
        _, _, prefix_logits = net.unroll(obs, path)
        prefix = net.reward(prefix_logits.double()).numpy()  # [7, 4]
    model = SearchModel(net)
    embedding, _, _ = model.initial(obs.numpy())
    rewards = []
    for k in range(7):
        embedding, reward, _, _ = model.recurrent_fn(embedding, path[:, k].numpy())
        rewards.append(reward)
    expect = [prefix[k] - (prefix[k - 1] if k % 3 else 0.0) for k in range(7)]
    np.testing.assert_allclose(np.array(rewards), np.array(expect), atol=1e-5)
    assert np.abs(prefix).max() > 0.01  # a prefix that is not all zeros, so the check means something


def test_value_prefix_one_step_is_the_fresh_state_prediction():
    """recurrent_inference (one step, used by max_q lookahead) predicts from a
    fresh recurrent state, which is the first unrolled step's prefix."""
    torch.manual_seed(2)
    net = MuZeroNet((4,), 2, latent_dim=8, hidden=(16,), value_prefix_hidden=6)
    torch.nn.init.normal_(net.value_prefix.out.weight, std=0.5)
    obs, action = torch.rand(3, 4), torch.tensor([0, 1, 1])
    with torch.no_grad():
        _, _, unrolled = net.unroll(obs, action[:, None])
        one = net.recurrent_inference(net.initial_inference(obs).latent, action).reward_logits
    torch.testing.assert_close(one, unrolled[0])


@pytest.mark.parametrize("horizon", [1, 3])
def test_the_numpy_engine_steps_the_value_prefix_as_torch_does(horizon):
    from zeroplan.nets.search_model import SearchModel

    torch.manual_seed(5)
    net = MuZeroNet((4,), 3, latent_dim=8, hidden=(16,), support_size=5, value_prefix_hidden=6,
                    value_prefix_horizon=horizon)
    for p in net.value_prefix.parameters():
        torch.nn.init.normal_(p, std=0.5)
    fast, slow = SearchModel(net, "numpy"), SearchModel(net, "torch")
    obs = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    a, b = fast.initial(obs), slow.initial(obs)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-5)
    emb_a, emb_b = a[0], b[0]
    for k in range(5):
        action = np.random.default_rng(k).integers(0, 3, 5)
        out_a, out_b = fast.recurrent_fn(emb_a, action), slow.recurrent_fn(emb_b, action)
        for x, y in zip(out_a, out_b):
            np.testing.assert_allclose(x, y, atol=1e-4)
        emb_a, emb_b = out_a[0], out_b[0]
    assert np.abs(out_a[1]).max() > 1e-3  # rewards that are not all zero


def test_a_value_prefix_reset_later_than_training_unrolls_is_refused():
    from zeroplan.config import ConfigError

    with pytest.raises(ConfigError, match=r"net.value_prefix_horizon \(5\) is more than replay.unroll_steps \(3\)"):
        load_config("cartpole", dotted=["net.value_prefix=true", "replay.unroll_steps=3"])
    load_config("cartpole", dotted=["net.value_prefix=true", "replay.unroll_steps=3", "net.value_prefix_horizon=3"])
