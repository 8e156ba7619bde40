"""The numpy search engine for MLP networks against the torch network it mirrors.

The torch MuZeroNet is the reference: for every shape the numpy engine takes,
both must give the same latents, values, rewards and logits, and must keep
agreeing while the torch weights are trained, reloaded or re-typed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeroplan.nets.muzero_net import MuZeroNet
from zeroplan.nets.search_model import SearchModel
from zeroplan.nets.numpy_inference import NumpyMLPInference, Unsupported

# (obs_shape, num_actions, latent, hidden, batch): one hidden layer, three, planes
# flattened, and wide layers over a batch of 20.
SHAPES = [
    ((4,), 2, 16, (32, 32), 3),
    ((6,), 5, 8, (16,), 1),
    ((3, 3, 3), 9, 12, (24, 24, 24), 7),
    ((8,), 3, 32, (256, 128), 20),
]


def make(obs_shape, num_actions, latent, hidden, seed=0, dtype=torch.float32) -> MuZeroNet:
    torch.manual_seed(seed)
    net = MuZeroNet(obs_shape, num_actions, support_size=6, latent_dim=latent, hidden=hidden).to(dtype)
    with torch.no_grad():
        for p in net.parameters():  # random everything, heads included (they start at zero)
            p.normal_(0.0, 0.3)
    return net


def outputs(model: SearchModel, obs: np.ndarray, actions: np.ndarray) -> list[np.ndarray]:
    latent, value, logits = model.initial(obs)
    nxt, reward, value2, logits2 = model.recurrent_fn(latent, actions)
    nxt2, reward2, _, _ = model.recurrent_fn(nxt, actions[::-1].copy())  # a second step, from a model latent
    return [latent, value, logits, nxt, reward, value2, logits2, nxt2, reward2]


def assert_same(fast: list[np.ndarray], ref: list[np.ndarray], tol: float) -> None:
    for i, (a, b) in enumerate(zip(fast, ref)):
        assert a.shape == b.shape and a.dtype == b.dtype, i
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"output {i}")


def inputs(net: MuZeroNet, batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(batch,) + net.obs_shape).astype(np.float32)
    return obs, rng.integers(0, net.num_actions, batch).astype(np.int32)


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{s[0]}-{s[3]}-B{s[4]}" for s in SHAPES])
def test_numpy_engine_matches_torch(shape):
    *arch, batch = shape
    net = make(*arch)
    fast, ref = SearchModel(net, "numpy"), SearchModel(net, "torch")
    obs, actions = inputs(net, batch)
    got, want = outputs(fast, obs, actions), outputs(ref, obs, actions)
    assert_same(got, want, 2e-5)
    assert np.abs(want[1]).max() > 0.01 and np.abs(want[4]).max() > 0.01  # values and rewards are not all 0


def test_auto_uses_numpy_for_mlp_and_torch_for_resnet():
    assert SearchModel(make((4,), 2, 8, (16,)))._fast is not None
    resnet = MuZeroNet((3, 3, 3), 9, kind="resnet", channels=4, blocks=1)
    assert SearchModel(resnet)._fast is None
    with pytest.raises(Unsupported, match="MLP network only"):
        SearchModel(resnet, "numpy")
    with pytest.raises(ValueError, match="inference must be one of"):
        SearchModel(resnet, "jax")


def test_untrained_net_gives_exactly_zero_value_and_reward():
    net = MuZeroNet((4,), 2, support_size=6, latent_dim=8, hidden=(16,))  # zero-initialised heads
    obs, actions = inputs(net, 4)
    latent, value, logits = SearchModel(net, "numpy").initial(obs)
    _, reward, value2, _ = SearchModel(net, "numpy").recurrent_fn(latent, actions)
    assert not value.any() and not reward.any() and not value2.any() and not logits.any()


def test_engine_follows_in_place_training_and_reloads():
    net = make((4,), 2, 16, (32,))
    fast, ref = SearchModel(net, "numpy"), SearchModel(net, "torch")
    obs, actions = inputs(net, 5)
    before = outputs(fast, obs, actions)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    out = net.initial_inference(torch.from_numpy(obs))
    (out.value_logits.square().mean() + out.policy_logits.square().mean()).backward()
    opt.step()
    after = outputs(fast, obs, actions)
    assert not np.allclose(before[1], after[1])  # the optimiser's step is seen without a rebuild
    assert_same(after, outputs(ref, obs, actions), 2e-5)
    other = make((4,), 2, 16, (32,), seed=5)
    net.load_state_dict(other.state_dict())
    assert_same(outputs(fast, obs, actions), outputs(SearchModel(other, "torch"), obs, actions), 2e-5)


def test_engine_is_rebuilt_when_parameters_are_retyped():
    net = make((4,), 2, 16, (32,))
    fast = SearchModel(net, "numpy")
    obs, actions = inputs(net, 3)
    net.double()  # new storage: the old views would be stale
    got = outputs(fast, obs, actions)
    assert got[0].dtype == np.float64
    assert_same(got, outputs(SearchModel(net, "torch"), obs, actions), 1e-10)


@pytest.mark.parametrize("bad", [np.array([0, 2, 1]), np.array([-1, 0, 0]), np.array([0, 1])])
def test_bad_actions_are_rejected(bad):
    net = make((4,), 2, 8, (16,))
    engine = NumpyMLPInference(net)
    latent, _, _ = engine.initial(inputs(net, 3)[0])
    with pytest.raises(ValueError, match="actions must be"):
        engine.recurrent(latent, bad)


@pytest.mark.parametrize("num_actions,codes", [(4, 32), (5, 3)])
def test_numpy_engine_matches_torch_with_chance_codes(num_actions, codes):
    """Stochastic MuZero's search step: a batch mixing rows from states (-> afterstates:
    Q and code logits) and rows from afterstates (-> states), twice in a row; the
    padding past each row's width is zero in both engines."""
    torch.manual_seed(0)
    net = MuZeroNet((6,), num_actions, support_size=6, latent_dim=12, hidden=(24, 24), chance_codes=codes)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    fast, ref = SearchModel(net, "numpy"), SearchModel(net, "torch")
    assert fast._fast is not None and ref._fast is None
    rng = np.random.default_rng(4)
    obs = rng.normal(size=(7, 6)).astype(np.float32)
    from_chance = np.array([False, True, False, True, True, False, False])
    edges = np.where(from_chance, rng.integers(0, codes, 7), rng.integers(0, num_actions, 7))

    def run(model):
        latent, _, _ = model.initial(obs)
        first = model.recurrent_fn(latent, edges, from_chance)
        second = model.recurrent_fn(first[0], edges[::-1].copy() % min(codes, num_actions), ~from_chance)
        return list(first) + list(second)

    got, want = run(fast), run(ref)
    assert_same(got, want, 2e-5)
    width = max(codes, num_actions)
    assert got[3].shape == (7, width) and np.all(got[1][~from_chance] == 0.0)
    assert np.all(got[3][~from_chance, codes:] == 0) and np.all(got[3][from_chance, num_actions:] == 0)
    assert np.abs(want[2]).max() > 0.01 and np.abs(want[1]).max() > 0.01
    with pytest.raises(ValueError, match="from_chance"):
        ref.recurrent_fn(np.zeros((1, 12), np.float32), np.array([0]))
