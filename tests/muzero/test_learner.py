"""Learner: gradient scaling, masks, priorities, skipped non-finite updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.reference.lookahead import reference_lookahead
from zeroplan.config import ConfigError, TrainConfig, load_config
from zeroplan.muzero.episode import Episode
from zeroplan.muzero.learner import Learner
from zeroplan.muzero.reanalyze import bootstrap_fn, network_values
from zeroplan.muzero.replay import Batch, Replay
from zeroplan.nets.muzero_net import MuZeroNet, scale_gradient
from zeroplan.nets.build import build_net


def test_scale_gradient_is_identity_forward_and_scales_backward():
    x = torch.tensor([2.0, -3.0], requires_grad=True)
    y = scale_gradient(x, 0.25)
    assert torch.equal(y, x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), 0.25))


def make_batch(n=4, k=2, a=2, value=1.0):
    return Batch(
        obs=np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32),
        actions=np.zeros((n, k), np.int64),
        target_values=np.full((n, k + 1), value, np.float32),
        target_rewards=np.full((n, k + 1), 0.5, np.float32),
        target_policies=np.tile(np.array([0.9, 0.1], np.float32), (n, k + 1, 1)),
        value_mask=np.ones((n, k + 1), np.float32), reward_mask=np.ones((n, k + 1), np.float32),
        policy_mask=np.ones((n, k + 1), np.float32), weights=np.ones(n, np.float32),
        slots=np.arange(n), episode_ids=np.zeros(n, np.int64), starts=np.zeros(n, np.int64))


def learner(k=2, **cfg):
    torch.manual_seed(0)
    net = MuZeroNet((3,), 2, support_size=5, latent_dim=8, hidden=(16,))
    return Learner(net, TrainConfig(**cfg), support_size=5, unroll_steps=k)


def test_masked_targets_do_not_matter():
    lrn = learner()
    b = make_batch()
    loss_a, _, _ = lrn.losses(b)
    b.target_values[:, 1:] = 100.0
    b.target_rewards[:, 1:] = -100.0
    b.target_policies[:, 1:] = [0.0, 1.0]
    b.value_mask[:, 1:] = b.reward_mask[:, 1:] = b.policy_mask[:, 1:] = 0
    b2 = make_batch()
    b2.value_mask[:, 1:] = b2.reward_mask[:, 1:] = b2.policy_mask[:, 1:] = 0
    loss_b, _, _ = lrn.losses(b)
    loss_c, _, _ = lrn.losses(b2)
    assert torch.isclose(loss_b, loss_c)
    assert not torch.isclose(loss_a, loss_b)


def test_an_all_zero_policy_target_counts_as_masked():
    """A fast search of playout-cap randomisation stores zeros as its policy
    target: the loss must be the one with that policy target masked out."""
    lrn = learner()
    zeros = make_batch()
    zeros.target_policies[1:3, 1] = 0.0
    masked = make_batch()
    masked.policy_mask[1:3, 1] = 0.0
    full = make_batch()
    assert torch.isclose(lrn.losses(zeros)[0], lrn.losses(masked)[0])
    assert not torch.isclose(lrn.losses(zeros)[0], lrn.losses(full)[0])


def test_importance_weights_scale_each_sample():
    lrn = learner()
    b = make_batch()
    base, _, _ = lrn.losses(b)
    b.weights[:] = 0.5
    half, _, _ = lrn.losses(b)
    torch.testing.assert_close(half, base / 2)


def test_training_fits_the_targets_and_priorities_shrink():
    lrn = learner(lr=0.01, weight_decay=0.0)
    b = make_batch(value=3.0)
    first = None
    for _ in range(300):
        metrics, prio = lrn.train_step(b)
        first = first if first is not None else prio
    assert prio.mean() < 0.2 < first.mean()  # |predicted value - 3| at k=0
    with torch.no_grad():
        out = lrn.net.initial_inference(torch.as_tensor(b.obs))
        assert torch.allclose(lrn.net.value(out.value_logits), torch.tensor(3.0), atol=0.2)
        probs = torch.softmax(out.policy_logits, -1)[:, 0]
        assert torch.allclose(probs, torch.tensor(0.9), atol=0.05)


def test_non_finite_loss_skips_the_update():
    lrn = learner()
    b = make_batch()
    b.target_values[:] = np.nan
    before = [p.detach().clone() for p in lrn.net.parameters()]
    metrics, prio = lrn.train_step(b)
    assert prio is None and metrics["skipped_updates"] == 1 and lrn.steps == 0
    assert all(torch.equal(x, y) for x, y in zip(before, lrn.net.parameters()))


def test_target_network_refreshes_on_schedule():
    lrn = learner(target_update_interval=2, lr=0.05)
    b = make_batch()
    t0 = [p.detach().clone() for p in lrn.target_net.parameters()]
    lrn.train_step(b)
    assert all(torch.equal(x, y) for x, y in zip(t0, lrn.target_net.parameters()))
    lrn.train_step(b)
    assert all(torch.equal(x, y) for x, y in zip(lrn.net.parameters(), lrn.target_net.parameters()))


@pytest.mark.parametrize("efficientzero", [False, True])
def test_batched_loss_matches_the_step_by_step_reference(efficientzero):
    """Also with EfficientZero's value prefix (horizon 2 over 3 steps: one
    reset inside the unroll) and temporal consistency."""
    from tests.reference.learner_loss import reference_loss

    weight = 1.5 if efficientzero else 0.0
    torch.manual_seed(0)
    net = MuZeroNet((3,), 2, support_size=5, latent_dim=8, hidden=(16,),
                    **({"projection_dim": 6, "value_prefix_hidden": 8, "value_prefix_horizon": 2}
                       if efficientzero else {}))
    lrn = Learner(net, TrainConfig(consistency_weight=weight), support_size=5, unroll_steps=3)
    for p in lrn.net.parameters():  # non-zero heads, so that every gradient path is exercised
        torch.nn.init.normal_(p, std=0.3)
    b = make_batch(n=5, k=3)
    rng = np.random.default_rng(1)
    if efficientzero:
        b.next_obs = rng.normal(size=(5, 3, 3)).astype(np.float32)
        b.next_obs_mask = np.ones((5, 3), np.float32)
        b.next_obs_mask[1, 2] = 0
    b.target_values[:] = rng.normal(0, 3, b.target_values.shape)
    b.target_rewards[:] = rng.normal(0, 1, b.target_rewards.shape)
    b.value_mask[2, 3] = b.reward_mask[1, 2] = b.policy_mask[4, 1:] = 0
    b.weights[:] = rng.uniform(0.2, 1.0, 5)
    b.actions[:] = rng.integers(0, 2, b.actions.shape)

    def run(fn):
        lrn.net.zero_grad()
        loss, parts, prio = fn()
        loss.backward()
        return loss.detach(), {k: v.detach() for k, v in parts.items()}, prio, \
            [p.grad.clone() if p.grad is not None else None for p in lrn.net.parameters()]

    fast = run(lambda: lrn.losses(b))
    slow = run(lambda: reference_loss(lrn.net, b, 5, 3, lrn.config.value_loss_weight, weight))
    torch.testing.assert_close(fast[0], slow[0])
    assert fast[1].keys() == slow[1].keys()
    for k in fast[1]:
        torch.testing.assert_close(fast[1][k], slow[1][k])
    torch.testing.assert_close(fast[2], slow[2])
    for g_fast, g_slow in zip(fast[3], slow[3]):
        assert (g_fast is None) == (g_slow is None)  # with a value prefix the per-step reward head is unused
        if g_fast is not None:
            torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("consistency", [0.0, 1.5])
def test_chance_loss_matches_the_step_by_step_reference(consistency):
    """Stochastic MuZero: afterstates, encoder codes (straight-through), the
    afterstate value, code and commitment terms, masked past an episode's end,
    in value and gradient (the encoder's included)."""
    from tests.reference.learner_loss import reference_loss

    torch.manual_seed(0)
    net = MuZeroNet((3,), 2, support_size=5, latent_dim=8, hidden=(16,), chance_codes=4,
                    projection_dim=6 if consistency else 0)
    lrn = Learner(net, TrainConfig(chance_loss_weight=0.7, commitment_weight=0.3, consistency_weight=consistency),
                  support_size=5, unroll_steps=3)
    for p in lrn.net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    rng = np.random.default_rng(3)
    b = make_batch(n=6, k=3)
    b.next_obs = rng.normal(size=(6, 3, 3)).astype(np.float32)
    b.next_obs_mask = np.ones((6, 3), np.float32)
    b.next_obs_mask[1, 1:] = 0
    b.target_values[:] = rng.normal(0, 3, b.target_values.shape)
    b.actions[:] = rng.integers(0, 2, b.actions.shape)
    b.weights[:] = rng.uniform(0.2, 1.0, 6)

    def run(fn):
        lrn.net.zero_grad()
        loss, parts, _ = fn()
        loss.backward()
        return loss.detach(), {k: v.detach() for k, v in parts.items()}, \
            {n: p.grad.clone() for n, p in lrn.net.named_parameters() if p.grad is not None}

    fast = run(lambda: lrn.losses(b))
    slow = run(lambda: reference_loss(lrn.net, b, 5, 3, lrn.config.value_loss_weight, consistency,
                                      chance_weights=(0.7, 0.3)))
    torch.testing.assert_close(fast[0], slow[0])
    assert fast[1].keys() == slow[1].keys() >= {"afterstate_value_loss", "chance_loss", "commitment_loss"}
    for k in fast[1]:
        torch.testing.assert_close(fast[1][k], slow[1][k])
    assert fast[2].keys() == slow[2].keys()
    assert any(n.startswith("chance.encoder") for n in fast[2])  # the straight-through path reaches the encoder
    for n in fast[2]:
        torch.testing.assert_close(fast[2][n], slow[2][n], rtol=1e-4, atol=1e-6)


def test_straight_through_code_is_one_hot_with_the_softmax_gradient():
    from zeroplan.nets.chance import straight_through_one_hot

    logits = torch.tensor([[0.2, 1.5, -0.3], [2.0, 0.0, 0.1]], requires_grad=True)
    probs = torch.softmax(logits, dim=-1)
    code = straight_through_one_hot(probs)
    assert torch.equal(code.detach(), torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    w = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    (code * w).sum().backward()
    expected = torch.autograd.grad((torch.softmax(logits, dim=-1) * w).sum(), logits)[0]
    torch.testing.assert_close(logits.grad, expected)


@pytest.mark.parametrize("dim", [0, 2])
def test_sampled_policy_loss_matches_the_reference(dim):
    """Sampled MuZero: the policy term over each state's sampled actions (Gaussian
    codes for continuous actions, indices for discrete ones), with the entropy
    bonus, equals the step-by-step reference in value and gradient."""
    from tests.reference.learner_loss import reference_loss

    torch.manual_seed(0)
    net = MuZeroNet((3,), 1 if dim else 4, support_size=5, latent_dim=8, hidden=(16,), action_dim=dim)
    lrn = Learner(net, TrainConfig(policy_entropy_weight=0.1), support_size=5, unroll_steps=3)
    for p in lrn.net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    rng = np.random.default_rng(2)
    b = make_batch(n=5, k=3)
    samples = 6
    b.target_policies = rng.dirichlet(np.ones(samples), size=(5, 4)).astype(np.float32)
    if dim:
        b.actions = rng.normal(size=(5, 3, dim)).astype(np.float32)
        b.policy_codes = rng.normal(size=(5, 4, samples, dim)).astype(np.float32)
    else:
        b.actions = rng.integers(0, 4, (5, 3))
        b.policy_codes = rng.integers(0, 4, (5, 4, samples))
    b.policy_mask[3, 2:] = 0

    def run(fn):
        lrn.net.zero_grad()
        loss, parts, _ = fn()
        loss.backward()
        return loss.detach(), parts["policy_loss"].detach(), [p.grad.clone() for p in lrn.net.parameters()
                                                               if p.grad is not None]

    fast = run(lambda: lrn.losses(b))
    slow = run(lambda: reference_loss(lrn.net, b, 5, 3, lrn.config.value_loss_weight, entropy_weight=0.1))
    torch.testing.assert_close(fast[0], slow[0])
    torch.testing.assert_close(fast[1], slow[1])
    for g_fast, g_slow in zip(fast[2], slow[2]):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-6)


def test_sampled_policy_gradient_by_hand():
    """One state, one dimension, two samples u1 = 1, u2 = -1 with targets 0.75 / 0.25,
    a head saying mean m and log std s: the loss -sum_j t_j log N(u_j; m, e^s) has
    d/dm = -sum_j t_j (u_j - m) / e^(2s) and d/ds = sum_j t_j (1 - (u_j - m)^2 / e^(2s))."""
    from zeroplan.muzero.learner import sampled_policy_ce

    m, s = 0.2, -0.3
    params = torch.tensor([[m, s]], dtype=torch.float64, requires_grad=True)
    codes = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)
    target = torch.tensor([[0.75, 0.25]], dtype=torch.float64)
    sampled_policy_ce(params, codes, target, 1).sum().backward()
    var = np.exp(2 * s)
    d_m = -(0.75 * (1 - m) + 0.25 * (-1 - m)) / var
    d_s = 0.75 * (1 - (1 - m) ** 2 / var) + 0.25 * (1 - (-1 - m) ** 2 / var)
    np.testing.assert_allclose(params.grad.numpy()[0], [d_m, d_s], rtol=1e-12)


def test_batchnorm_nets_train_in_training_mode_and_search_in_eval_mode():
    """The conv net's BatchNorm must see training mode during the loss (batch
    statistics, running averages updated) and be back in eval mode afterwards;
    an MLP, which has no such layer, is never switched."""
    torch.manual_seed(0)
    net = MuZeroNet((2, 3, 3), 2, kind="resnet", support_size=2, latent_dim=8, channels=4, blocks=1)
    lrn = Learner(net.eval(), TrainConfig(), support_size=2, unroll_steps=1)
    seen = []
    original = lrn.losses
    lrn.losses = lambda batch: (seen.append(net.training), original(batch))[1]
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    obs = np.random.default_rng(0).normal(size=(4, 2, 3, 3)).astype(np.float32)
    batch = make_batch(n=4, k=1)
    batch.obs = obs
    lrn.train_step(batch)
    assert seen == [True] and not net.training
    assert not torch.equal(bn.running_mean, before)

    mlp = learner()
    calls = []
    mlp.net.train = lambda mode=True: calls.append(mode)
    mlp.train_step(make_batch())
    assert calls == []


def test_optimizer_state_saved_with_another_kernel_resumes_exactly():
    """A checkpoint names the optimizer kernel that saved it (fused, or foreach on
    an older torch); loading it keeps this torch's kernel and the same updates."""
    uninterrupted, saver = learner(), learner()
    b = make_batch()
    for _ in range(3):
        uninterrupted.train_step(b)
        saver.train_step(b)
    tensors, info = saver.state()
    for group in info["param_groups"]:
        group.update(fused=None, foreach=True)  # as written where fused AdamW was not available
    resumed = learner()
    resumed.net.load_state_dict(saver.net.state_dict())
    resumed.load_state(tensors, info)
    current = {k: v for k, v in learner().optimizer.param_groups[0].items() if k in ("fused", "foreach")}
    assert {k: resumed.optimizer.param_groups[0][k] for k in current} == current
    for _ in range(2):
        uninterrupted.train_step(b)
        resumed.train_step(b)
    for a, c in zip(uninterrupted.net.parameters(), resumed.net.parameters()):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-6)
    assert resumed.steps == uninterrupted.steps == 5


@pytest.mark.parametrize("codes", [0, 3])
def test_max_q_bootstrap_is_the_best_legal_one_step_lookahead(codes):
    """With chance codes, the best afterstate value."""
    torch.manual_seed(0)
    net = MuZeroNet((5,), 4, kind="mlp", hidden=(16,), latent_dim=8, support_size=5, chance_codes=codes).eval()
    with torch.no_grad():
        for p in net.parameters():  # the heads start at zero
            p.normal_(0.0, 0.3)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(7, 5)).astype(np.float32)
    legal = rng.random((7, 4)) < 0.6
    legal[:, 2] = True  # at least one legal action per row; the others vary
    legal[0] = False  # no legal action listed: the max over all of them
    for players in (1, 2):
        cfg = load_config("CartPole-v1", dotted=["train.bootstrap=max_q", "search.discount=0.9", "net.support_size=5"])
        got = bootstrap_fn(net, cfg, players)(obs, legal)
        np.testing.assert_allclose(got, reference_lookahead(net, obs, legal, 0.9, players), rtol=1e-5, atol=1e-6)
    # The default bootstraps from the state's own value, whatever the legal actions.
    cfg = load_config("CartPole-v1", dotted=["net.support_size=5"])
    np.testing.assert_array_equal(bootstrap_fn(net, cfg, 1)(obs, legal), network_values(net, obs, 5))


def test_max_q_bootstrap_needs_a_target_network():
    with pytest.raises(ConfigError, match="max_q.*target_update_interval"):
        load_config("CartPole-v1", dotted=["train.bootstrap=max_q", "train.target_update_interval=0"])


def test_td_steps_zero_needs_the_max_q_bootstrap():
    with pytest.raises(ConfigError, match="td_steps 0.*max_q") as err:
        load_config("CartPole-v1", dotted=["replay.td_steps=0"])
    assert "got {" not in str(err.value)  # the whole config is not echoed back
    assert load_config("CartPole-v1", dotted=["replay.td_steps=0", "train.bootstrap=max_q"]).replay.td_steps == 0
    # ... or the search's own lookahead value, stored at self-play (no target network to replace it).
    searched = ["replay.td_steps=0", "search.policy=gumbel", "search.root_value=improved"]
    assert load_config("CartPole-v1", dotted=searched + ["train.target_update_interval=0"]).replay.td_steps == 0
    with pytest.raises(ConfigError, match="td_steps 0.*target_update_interval 0"):
        load_config("CartPole-v1", dotted=searched + ["train.target_update_interval=100"])
    with pytest.raises(ConfigError, match="td_steps 0"):
        load_config("CartPole-v1", dotted=["replay.td_steps=0", "train.target_update_interval=0"])


def test_the_improved_root_value_needs_gumbel():
    with pytest.raises(ConfigError, match="root_value 'improved'.*Gumbel"):
        load_config("CartPole-v1", dotted=["search.policy=puct", "search.root_value=improved"])
    assert load_config("CartPole-v1", dotted=["search.policy=puct", "search.root_value=max_q"]).search.root_value \
        == "max_q"


def _one_move_values(bootstrap: str, td_steps: int, updates: int = 150) -> float:
    """A one-move game played uniformly at random: from the start, action 0
    ends it with reward 1, action 1 with reward 0. Returns the learned value of
    the start state after `updates` updates on that data."""
    cfg = load_config("CartPole-v1", dotted=[
        f"train.bootstrap={bootstrap}", f"replay.td_steps={td_steps}", "replay.unroll_steps=1",
        "replay.prioritized=false", "train.target_update_interval=10", "train.value_loss_weight=1.0",
        "net.hidden=[16]", "net.latent_dim=8", "net.support_size=2", "replay.batch_size=32", "train.lr=0.01"])
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    replay = Replay(cfg.replay, 2, cfg.search.discount)
    obs = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # start, end
    for action in rng.integers(0, 2, 200):
        replay.add(Episode(obs=obs, actions=np.array([action]), rewards=np.array([1.0 - action], np.float32),
                           to_play=np.zeros(2, np.int8), legal_masks=np.ones((2, 2), bool),
                           root_values=np.zeros(2, np.float32), policy_targets=np.full((2, 2), 0.5, np.float32),
                           terminated=True))
    net = build_net(cfg, (2,), 2)
    learner = Learner(net, cfg.train, cfg.net.support_size, cfg.replay.unroll_steps)
    value_fn = bootstrap_fn(learner.target_net, cfg, 1)
    for _ in range(updates):
        learner.train_step(replay.sample(cfg.replay.batch_size, rng, value_fn))
    return float(network_values(net, obs[:1], cfg.net.support_size)[0])


def test_max_q_from_the_state_itself_learns_the_greedy_value_not_the_exploring_one():
    # Random play earns 0.5 on average; the best move earns 1. The MuZero
    # target (the move's reward, then the end's value 0) averages the moves
    # played; the lookahead from the state itself takes the best one.
    assert _one_move_values("value", 1) < 0.6
    assert _one_move_values("max_q", 0) > 0.85


def test_mixed_precision_computes_in_bfloat16_and_keeps_float32_weights():
    """train.amp: the forward and backward run under bfloat16 autocast (on the CPU here, as on a GPU);
    the loss is close to the float32 one, the weights and their gradients stay float32."""
    torch.manual_seed(0)
    nets = [MuZeroNet((2, 4, 4), 2, kind="resnet", support_size=5, channels=4, blocks=1) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    full, mixed = (Learner(n.eval(), TrainConfig(amp=amp), support_size=5, unroll_steps=2)
                   for n, amp in zip(nets, (False, True)))
    batch = make_batch(n=8, k=2)
    batch.obs = np.random.default_rng(1).random((8, 2, 4, 4)).astype(np.float32)
    seen = []
    conv = nets[1].core.representation_net[0][0]
    hook = conv.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    a, _ = full.train_step(batch)
    b, priorities = mixed.train_step(batch)
    hook.remove()
    assert seen == [torch.bfloat16] and priorities.dtype == np.float32
    assert np.isfinite(b["loss"]) and b["loss"] == pytest.approx(a["loss"], rel=0.02) and b["loss"] != a["loss"]
    assert all(p.dtype == torch.float32 for p in nets[1].parameters())
    changed = [not torch.equal(p, q) for p, q in zip(nets[1].parameters(), nets[0].parameters())]
    assert any(changed)  # both updated, not identically
