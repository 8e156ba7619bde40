"""MuZeroNet: shapes, latent scaling, zero-initialised heads, gradient flow,
the numpy adapter for search, input validation, and a tiny overfit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zeroplan.nets.muzero_net import MuZeroNet, NetOutput, scale_latent
from zeroplan.nets.search_model import SearchModel
from zeroplan.nets.support import scalar_to_support

S = 10
# (obs_shape, num_actions, kwargs): a CartPole-like vector, tic-tac-toe planes,
# a board whose actions are not its cells (one-hot action planes), a drop game
# whose actions are its columns (connect four, no residual blocks; again with a
# hidden layer in the value and reward heads), and an MLP on planes.
CASES = {
    "mlp-vector": ((4,), 2, dict(kind="mlp", latent_dim=16, hidden=(32, 32))),
    "resnet-board": ((3, 3, 3), 9, dict(kind="resnet", channels=8, blocks=1)),
    "resnet-noncell": ((2, 4, 4), 3, dict(kind="resnet", channels=4, blocks=1)),
    "resnet-columns": ((3, 6, 7), 7, dict(kind="resnet", channels=4, blocks=0)),
    "resnet-head-hidden": ((3, 6, 7), 7, dict(kind="resnet", channels=4, blocks=0, head_hidden=8)),
    "mlp-planes": ((3, 3, 3), 9, dict(kind="mlp", latent_dim=8, hidden=(16,))),
}


def make(case: str, seed: int = 0) -> MuZeroNet:
    obs_shape, num_actions, kwargs = CASES[case]
    torch.manual_seed(seed)
    return MuZeroNet(obs_shape, num_actions, support_size=S, **kwargs)


def random_obs(net: MuZeroNet, batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randn((batch,) + net.obs_shape, generator=torch.Generator().manual_seed(seed))


def random_actions(net: MuZeroNet, batch: int, seed: int = 2) -> torch.Tensor:
    return torch.randint(net.num_actions, (batch,), generator=torch.Generator().manual_seed(seed))


def randomise_zero_params(net: MuZeroNet) -> None:
    """Give the zero-initialised head layers random weights (their zero init
    blocks the gradient to the layers below them on the very first step)."""
    with torch.no_grad():
        for p in net.parameters():
            if torch.all(p == 0):
                p.normal_(0.0, 0.3)


@pytest.mark.parametrize("case", list(CASES))
def test_shapes(case):
    net = make(case)
    batch = 5
    expected_latent = {"mlp-vector": (16,), "resnet-board": (8, 3, 3), "resnet-noncell": (4, 4, 4),
                       "resnet-columns": (4, 6, 7), "resnet-head-hidden": (4, 6, 7), "mlp-planes": (8,)}[case]
    assert net.latent_shape == expected_latent
    out = net.initial_inference(random_obs(net, batch))
    assert isinstance(out, NetOutput)
    assert out.latent.shape == (batch,) + expected_latent
    assert out.value_logits.shape == (batch, 2 * S + 1)
    assert out.policy_logits.shape == (batch, net.num_actions)
    assert out.reward_logits is None
    step = net.recurrent_inference(out.latent, random_actions(net, batch))
    assert step.latent.shape == (batch,) + expected_latent
    assert step.reward_logits.shape == (batch, 2 * S + 1)
    assert step.value_logits.shape == (batch, 2 * S + 1)
    assert step.policy_logits.shape == (batch, net.num_actions)
    assert net.value(step.value_logits).shape == (batch,)
    assert net.reward(step.reward_logits).shape == (batch,)


@pytest.mark.parametrize("case", list(CASES))
def test_latents_are_min_max_scaled_per_sample(case):
    net = make(case)
    randomise_zero_params(net)
    batch = 6
    latent = net.initial_inference(random_obs(net, batch) * 10).latent
    for k in range(4):
        flat = latent.detach().flatten(1)
        torch.testing.assert_close(flat.min(1).values, torch.zeros(batch), atol=1e-6, rtol=0)
        torch.testing.assert_close(flat.max(1).values, torch.ones(batch), atol=1e-6, rtol=0)
        latent = net.recurrent_inference(latent, random_actions(net, batch, seed=k)).latent


def test_scale_latent_constant_input_is_finite():
    out = scale_latent(torch.full((2, 3, 2, 2), 7.0))
    assert torch.all(out == 0)
    x = torch.tensor([[1.0, 3.0, 2.0], [-4.0, 0.0, -2.0]])
    torch.testing.assert_close(scale_latent(x), torch.tensor([[0.0, 1.0, 0.5], [0.0, 1.0, 0.5]]))


@pytest.mark.parametrize("case", list(CASES))
def test_untrained_net_predicts_zero_value_reward_and_uniform_policy(case):
    net = make(case)
    out = net.initial_inference(random_obs(net, 4) * 5)
    step = net.recurrent_inference(out.latent, random_actions(net, 4))
    for o in (out, step):
        assert torch.all(o.policy_logits == 0)
        assert torch.all(o.value_logits == 0)
        assert torch.allclose(net.value(o.value_logits), torch.zeros(4), atol=1e-6)
    assert torch.all(step.reward_logits == 0)
    assert torch.allclose(net.reward(step.reward_logits), torch.zeros(4), atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_reach_every_parameter_through_a_3_step_unroll(case):
    net = make(case)
    randomise_zero_params(net)
    net.train()
    batch = 4
    target = scalar_to_support(torch.full((batch,), 2.0), S)
    out = net.initial_inference(random_obs(net, batch))
    loss = -(target * F.log_softmax(out.value_logits, -1)).sum(-1).mean() + out.policy_logits.logsumexp(-1).mean()
    latent = out.latent
    for k in range(3):
        step = net.recurrent_inference(latent, random_actions(net, batch, seed=10 + k))
        loss = loss - (target * F.log_softmax(step.value_logits, -1)).sum(-1).mean()
        loss = loss - (target * F.log_softmax(step.reward_logits, -1)).sum(-1).mean()
        loss = loss + step.policy_logits.logsumexp(-1).mean()
        latent = step.latent
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", ["mlp-vector", "resnet-board"])
def test_search_model_matches_torch(case):
    net = make(case)
    randomise_zero_params(net)
    model = SearchModel(net)
    assert not net.training
    batch = 3
    obs = random_obs(net, batch).numpy()
    actions = random_actions(net, batch).numpy().astype(np.int32)  # the search hands over int32

    latent, value, logits = model.initial(obs)
    assert latent.dtype == np.float32 and latent.shape == (batch,) + net.latent_shape
    assert value.dtype == np.float64 and value.shape == (batch,)
    assert logits.dtype == np.float64 and logits.shape == (batch, net.num_actions)
    nxt, reward, value2, logits2 = model.recurrent_fn(latent, actions)
    assert nxt.dtype == np.float32 and nxt.shape == (batch,) + net.latent_shape
    for arr, shape in ((reward, (batch,)), (value2, (batch,)), (logits2, (batch, net.num_actions))):
        assert arr.dtype == np.float64 and arr.shape == shape

    with torch.no_grad():
        out = net.initial_inference(torch.from_numpy(obs))
        step = net.recurrent_inference(out.latent, torch.from_numpy(actions).long())
    np.testing.assert_allclose(latent, out.latent.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(value, net.value(out.value_logits).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits, out.policy_logits.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(nxt, step.latent.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(reward, net.reward(step.reward_logits).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(value2, net.value(step.value_logits).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits2, step.policy_logits.numpy(), rtol=1e-6, atol=1e-6)
    assert np.abs(value).max() > 0  # randomised heads: a real comparison, not 0 == 0


def test_search_model_accepts_float64_obs_and_keeps_batchnorm_stats():
    net = make("resnet-board")
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = SearchModel(net)
    net.train()  # switched back to eval on the next call
    latent, _, _ = model.initial(np.random.default_rng(0).normal(size=(2, 3, 3, 3)))
    model.recurrent_fn(latent, np.array([0, 8]))
    assert not net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_deepcopy_gives_the_same_outputs():
    net = make("mlp-vector")
    randomise_zero_params(net)
    twin = copy.deepcopy(net)
    obs = random_obs(net, 2)
    with torch.no_grad():
        torch.testing.assert_close(net.initial_inference(obs).value_logits, twin.initial_inference(obs).value_logits)


def reference_action_planes(encoding: str, actions, num_actions: int, height: int, width: int) -> np.ndarray:
    """Cell by cell: what each encoding puts on the board for each action."""
    channels = num_actions if encoding == "planes" else 1
    out = np.zeros((len(actions), channels, height, width))
    for i, a in enumerate(actions):
        for r in range(height):
            for c in range(width):
                if encoding == "cell":
                    out[i, 0, r, c] = float(r * width + c == a)
                elif encoding == "column":
                    out[i, 0, r, c] = float(c == a)
                else:
                    out[i, a, r, c] = 1.0
    return out


@pytest.mark.parametrize("encoding, obs_shape, num_actions, resolved", [
    ("auto", (3, 3, 3), 9, "cell"), ("auto", (3, 6, 7), 7, "column"), ("auto", (2, 4, 4), 3, "planes"),
    ("planes", (3, 6, 7), 7, "planes"), ("column", (2, 4, 5), 5, "column"), ("cell", (1, 2, 3), 6, "cell")])
def test_action_planes_lay_the_action_out_on_the_board(encoding, obs_shape, num_actions, resolved):
    net = MuZeroNet(obs_shape, num_actions, kind="resnet", channels=4, blocks=0, support_size=S,
                    action_encoding=encoding)
    assert net.core.action_encoding == resolved
    actions = torch.arange(num_actions).flip(0)
    planes = net.core.action_plane(actions, torch.float32).numpy()
    np.testing.assert_array_equal(planes, reference_action_planes(resolved, actions.tolist(), num_actions,
                                                                  *obs_shape[1:]))
    # The dynamics takes them: one step runs for every action.
    latent = net.initial_inference(random_obs(net, num_actions)).latent
    assert net.recurrent_inference(latent, actions).latent.shape == latent.shape


@pytest.mark.parametrize("encoding, obs_shape, num_actions, message", [
    ("cell", (3, 6, 7), 7, "'cell' needs one action per cell"),
    ("column", (3, 3, 3), 9, "'column' needs one action per column"),
    ("diagonal", (3, 3, 3), 9, "unknown action encoding 'diagonal'")])
def test_action_encodings_that_do_not_fit_are_rejected(encoding, obs_shape, num_actions, message):
    with pytest.raises(ValueError, match=message):
        MuZeroNet(obs_shape, num_actions, kind="resnet", channels=4, blocks=0, action_encoding=encoding)


def test_resnet_rejects_vector_observations():
    with pytest.raises(ValueError, match="resnet.*3-D"):
        MuZeroNet((4,), 2, kind="resnet")


def test_head_hidden_adds_a_hidden_layer_to_the_value_and_reward_heads_only():
    plain, hidden = make("resnet-columns"), make("resnet-head-hidden")
    for name in ("value_head", "reward_head"):
        layers = [m for m in getattr(hidden.core, name).modules() if isinstance(m, torch.nn.Linear)]
        assert [(m.in_features, m.out_features) for m in layers] == [(4 * 42, 8), (8, 2 * S + 1)]
        assert isinstance(getattr(plain.core, name).hidden, torch.nn.Identity)
    policy = [m for m in hidden.core.policy_head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in policy] == [(4 * 42, 7)]
    with pytest.raises(ValueError, match="head_hidden must be an integer >= 0"):
        MuZeroNet((3, 6, 7), 7, kind="resnet", head_hidden=-1)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown net kind 'transformer'"):
        MuZeroNet((4,), 2, kind="transformer")


@pytest.mark.parametrize("kwargs", [dict(num_actions=0), dict(support_size=0), dict(obs_shape=()),
                                    dict(obs_shape=(0, 3)), dict(hidden=(0,))])
def test_bad_sizes_are_rejected(kwargs):
    args = dict(obs_shape=(4,), num_actions=2) | kwargs
    with pytest.raises(ValueError):
        MuZeroNet(args.pop("obs_shape"), args.pop("num_actions"), **args)


def test_wrong_observation_shape_is_rejected():
    net = make("mlp-vector")
    with pytest.raises(ValueError, match="observations must have shape"):
        net.initial_inference(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="expected latent"):
        net.recurrent_inference(torch.zeros(2, 16), torch.zeros(3, dtype=torch.long))


def test_mlp_overfits_a_fixed_value_target():
    net = make("mlp-vector")
    obs = random_obs(net, 1)
    target = scalar_to_support(torch.tensor([5.0]), S)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        out = net.initial_inference(obs)
        loss = -(target * F.log_softmax(out.value_logits, -1)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        value = net.value(net.initial_inference(obs).value_logits)
    assert abs(value.item() - 5.0) < 0.1


@pytest.mark.parametrize("size,latent", [(96, 6), (84, 6), (10, 1), (33, 3)])
def test_downsampling_representation_shrinks_each_side_sixteen_times(size, latent):
    net = MuZeroNet((4, size, size), 6, kind="resnet", channels=8, blocks=1, downsample=True)
    assert net.latent_shape == (8, latent, latent) and net.core.action_encoding == "planes"
    obs = torch.rand(3, 4, size, size)
    out = net.initial_inference(obs)
    assert out.latent.shape == (3, 8, latent, latent) and out.policy_logits.shape == (3, 6)
    step = net.recurrent_inference(out.latent, torch.tensor([0, 5, 2]))
    assert step.latent.shape == out.latent.shape and step.reward_logits.shape == step.value_logits.shape
    randomise_zero_params(net)  # zeroed output layers would block the gradient
    loss = net.recurrent_inference(net.initial_inference(obs).latent, torch.tensor([1, 1, 1])).value_logits.sum()
    loss.backward()
    assert net.core.representation_net[0].net[0].weight.grad.abs().sum() > 0


def test_downsampling_refuses_board_action_encodings():
    with pytest.raises(ValueError, match="actions enter as 'planes'"):
        MuZeroNet((1, 96, 96), 6, kind="resnet", channels=8, blocks=0, downsample=True, action_encoding="column")
