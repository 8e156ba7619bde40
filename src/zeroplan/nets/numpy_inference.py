"""Search-time inference for the MLP MuZeroNet without torch's eager dispatch.

A tree search calls the network once per simulation on a small batch (one
root per environment). For the MLP network that is ~40 tiny torch operations
per call, and at these sizes torch's per-operation overhead, not arithmetic,
is most of the time (about 200 us per call at batch 1 on our 2-core machine).
`NumpyMLPInference` computes the same functions with numpy matrix products
(BLAS) and small compiled numba kernels that fuse bias + LayerNorm + ELU, the
latent min-max scaling and the support-to-scalar conversion.

It holds *views* of the torch parameters, not copies: optimiser steps and
`load_state_dict` write into the same memory, so a network being trained is
always searched with its current weights. If the parameters are moved or
re-typed (`net.double()`, `net.to(...)`), `SearchModel` notices and rebuilds
the views. The torch network stays the reference: tests check that both
give the same outputs.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from torch import nn

from zeroplan.nets.mlp import MLP, MLPCore
from zeroplan.nets.support import EPS as H_EPS

MIN_RANGE = 1e-5  # the smallest range a latent is divided by when min-max scaled (also muzero_net.scale_latent)


class Unsupported(ValueError):
    """The network has a layer this engine does not implement; search it with torch."""


@numba.njit(cache=True, fastmath=True)
def _bias_layernorm_elu(y, bias, gamma, beta, eps):
    """In place, per row: y = ELU(LayerNorm(y + bias)) with LayerNorm's affine weights.

    Sums run in the array's own precision (as torch's float32 LayerNorm does) so
    that fastmath can vectorise them; ELU's negative side is exp(v) - 1, whose
    absolute error near 0 (~1e-7 in float32) is far inside what the tests allow
    and which vectorises where the scalar expm1 does not."""
    rows, width = y.shape
    for i in range(rows):
        row = y[i]
        zero = row[0] - row[0]  # 0 in the array's dtype
        mean = zero
        for j in range(width):
            v = row[j] + bias[j]
            row[j] = v
            mean += v
        mean /= width
        var = zero
        for j in range(width):
            d = row[j] - mean
            var += d * d
        inv = 1.0 / math.sqrt(var / width + eps)
        for j in range(width):
            row[j] = (row[j] - mean) * inv * gamma[j] + beta[j]
        one = zero + 1
        for j in range(width):
            v = row[j]
            row[j] = v if v > zero else math.exp(min(v, zero)) - one


def bias_layernorm_elu(y: np.ndarray, bias, gamma, beta, eps: float) -> np.ndarray:
    """In place: ELU(LayerNorm(y + bias)); returns y."""
    _bias_layernorm_elu(y, bias, gamma, beta, eps)
    return y


@numba.njit(cache=True)
def _bias_scale_rows(y, bias, min_range):
    """In place, per row: add the bias, then min-max scale the row to [0, 1]."""
    rows, width = y.shape
    for i in range(rows):
        low = np.inf
        high = -np.inf
        for j in range(width):
            v = y[i, j] + bias[j]
            y[i, j] = v
            low = min(low, v)
            high = max(high, v)
        span = max(high - low, min_range)
        for j in range(width):
            y[i, j] = (y[i, j] - low) / span


@numba.njit(cache=True)
def _support_to_scalar(logits, bias, support_size, eps, out):
    """out[i] = h_inv(E[atom]) under softmax(logits[i] + bias), in float64."""
    rows, atoms = logits.shape
    for i in range(rows):
        top = -np.inf
        for j in range(atoms):
            top = max(top, np.float64(logits[i, j]) + np.float64(bias[j]))
        total = 0.0
        mean = 0.0
        for j in range(atoms):
            p = math.exp(np.float64(logits[i, j]) + np.float64(bias[j]) - top)
            total += p
            mean += p * (j - support_size)
        y = mean / total
        c = abs(y) + 1.0 + eps
        root = 2.0 * c / (math.sqrt(1.0 + 4.0 * eps * c) + 1.0)
        out[i] = math.copysign(root * root - 1.0, y) if y != 0.0 else 0.0


def support_scalars(logits: np.ndarray, support_size: int) -> np.ndarray:
    """[B, 2S+1] logits -> [B] float64 scalars: the numpy twin of nets.support.support_to_scalar."""
    logits = np.ascontiguousarray(logits, dtype=np.float64)
    out = np.empty(len(logits))
    _support_to_scalar(logits, np.zeros(logits.shape[1]), support_size, H_EPS, out)
    return out


def _view(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


class _Dense:
    """A Linear layer as numpy views: y = x @ w + b (w is the transposed weight)."""

    def __init__(self, layer: nn.Module):
        if type(layer) is not nn.Linear or layer.bias is None:
            raise Unsupported(f"expected a Linear layer with a bias, got {layer}")
        self.w = _view(layer.weight).T
        self.b = _view(layer.bias)


class _Hidden:
    """Linear -> LayerNorm -> ELU(1)."""

    def __init__(self, linear: nn.Module, norm: nn.Module, act: nn.Module):
        self.dense = _Dense(linear)
        if type(norm) is not nn.LayerNorm or not norm.elementwise_affine or norm.bias is None \
                or len(norm.normalized_shape) != 1:
            raise Unsupported(f"expected a LayerNorm over the last dimension with affine weights, got {norm}")
        if type(act) is not nn.ELU or act.alpha != 1.0:
            raise Unsupported(f"expected ELU(alpha=1), got {act}")
        self.gamma, self.beta, self.eps = _view(norm.weight), _view(norm.bias), float(norm.eps)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return bias_layernorm_elu(x @ self.dense.w, self.dense.b, self.gamma, self.beta, self.eps)


def _hidden_stack(seq: nn.Sequential) -> list[_Hidden]:
    mods = list(seq)
    if len(mods) % 3:
        raise Unsupported("hidden layers must come as Linear, LayerNorm, ELU")
    return [_Hidden(*mods[i:i + 3]) for i in range(0, len(mods), 3)]


class _Stack:
    """An `MLP`: hidden layers, then a plain linear output (its bias added by the caller's kernel)."""

    def __init__(self, mlp: nn.Module):
        if type(mlp) is not MLP:
            raise Unsupported(f"expected zeroplan's MLP, got {type(mlp).__name__}")
        self.hidden = _hidden_stack(mlp.trunk)
        self.out = _Dense(mlp.out)

    def trunk(self, x: np.ndarray) -> np.ndarray:
        for layer in self.hidden:
            x = layer(x)
        return x


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class _Prefix:
    """The value prefix (nets.muzero_net.ValuePrefix): an LSTM cell, then
    LayerNorm, ReLU and the output layer (its bias added by the caller's kernel)."""

    def __init__(self, module: nn.Module):
        cell = module.cell
        if type(cell) is not nn.LSTMCell or cell.bias_ih is None:
            raise Unsupported(f"expected an LSTMCell with biases, got {cell}")
        self.hidden = cell.hidden_size
        self.w_ih, self.w_hh = _view(cell.weight_ih).T, _view(cell.weight_hh).T
        self.b_ih, self.b_hh = _view(cell.bias_ih), _view(cell.bias_hh)
        norm = module.norm
        self.gamma, self.beta, self.eps = _view(norm.weight), _view(norm.bias), float(norm.eps)
        self.out = _Dense(module.out)

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input, h, c) -> (h', c', prefix logits without the output bias)."""
        gates = x @ self.w_ih + h @ self.w_hh + self.b_ih + self.b_hh
        i, f, g, o = np.split(gates, 4, axis=1)  # torch's gate order
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        mean = h.mean(axis=1, keepdims=True)
        var = ((h - mean) ** 2).mean(axis=1, keepdims=True)
        y = np.maximum((h - mean) / np.sqrt(var + self.eps) * self.gamma + self.beta, 0.0)
        return h, c, y @ self.out.w


class NumpyMLPInference:
    """initial / recurrent inference of an MLP `MuZeroNet` in numpy, on views of its parameters."""

    def __init__(self, net: nn.Module):
        core = getattr(net, "core", None)
        if type(core) is not MLPCore:
            raise Unsupported("numpy inference covers the MLP network only")
        params = list(net.parameters())
        if any(p.device.type != "cpu" or p.dtype not in (torch.float32, torch.float64) for p in params):
            raise Unsupported("numpy inference needs float32/float64 parameters on the CPU")
        self.net = net
        self.num_actions = core.num_actions
        self.action_dim = core.action_dim
        self.support_size = net.support_size
        self.latent_dim = core.latent_shape[0]
        self.dtype = _view(params[0]).dtype
        self.representation = _Stack(core.representation_net)
        self.dynamics = _Stack(core.dynamics_net)
        self.dyn_latent_w, self.dyn_action_w = self._split_first(self.dynamics)
        self.reward = _Stack(core.reward_net)
        self.prediction = _hidden_stack(core.prediction_trunk)
        self.policy = _Dense(core.policy_head)
        self.value = _Dense(core.value_head)
        prefix = getattr(net, "value_prefix", None)
        self.prefix = _Prefix(prefix) if prefix is not None else None
        self.prefix_horizon = getattr(net, "value_prefix_horizon", 1)
        chance = getattr(net, "chance", None)
        self.chance_codes = net.chance_codes if chance is not None else 0
        if chance is not None:  # Stochastic MuZero's parts (nets/chance.py)
            self.chance_dynamics = _Stack(chance.dynamics_net)
            self.chance_latent_w, self.chance_code_w = self._split_first(self.chance_dynamics)
            self.after_trunk = _hidden_stack(chance.trunk)
            self.after_value, self.after_codes = _Dense(chance.value_head), _Dense(chance.code_head)
        self._ends = (params[0], params[-1])
        self._where = self._locate()

    def _split_first(self, stack: _Stack) -> tuple[np.ndarray, np.ndarray]:
        """A dynamics stack's first weights [latent + E, width] split into the latent's rows and the edge's."""
        if not stack.hidden:
            raise Unsupported("the dynamics network needs at least one hidden layer")
        first = stack.hidden[0].dense.w
        return first[: self.latent_dim], first[self.latent_dim:]

    def _locate(self) -> tuple:
        """Where the first and last parameters live: a whole-network move or re-type changes both."""
        return tuple((p.data_ptr(), p.dtype) for p in self._ends)

    def is_current(self) -> bool:
        """False once the parameters have been moved, re-typed or replaced: the views are then stale."""
        return next(self.net.parameters()) is self._ends[0] and self._locate() == self._where

    def _predict(self, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = latent
        for layer in self.prediction:
            x = layer(x)
        logits = (x @ self.policy.w + self.policy.b).astype(np.float64)
        value = np.empty(len(latent))
        _support_to_scalar(x @ self.value.w, self.value.b, self.support_size, H_EPS, value)
        return value, logits

    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs [B, ...] -> (latent [B, L], value float64 [B], policy logits float64 [B, A])."""
        x = np.ascontiguousarray(obs, dtype=self.dtype).reshape(len(obs), -1)
        h = self.representation.trunk(x)
        latent = h @ self.representation.out.w
        _bias_scale_rows(latent, self.representation.out.b, MIN_RANGE)
        value, logits = self._predict(latent)
        return latent, value, logits

    def _next_latent(self, x: np.ndarray, action: np.ndarray) -> np.ndarray:
        return self._advance(self.dynamics, self.dyn_latent_w, self.dyn_action_w, x, action)

    def _advance(self, stack: _Stack, latent_w: np.ndarray, edge_w: np.ndarray, x: np.ndarray,
                 action: np.ndarray) -> np.ndarray:
        """A dynamics stack on (latent, edge): the edge an index into `edge_w`'s rows (a
        one-hot's share of the first layer), or a continuous action vector."""
        first = stack.hidden[0]
        y = x @ latent_w
        num_edges = len(edge_w)
        if self.action_dim and stack is self.dynamics:  # continuous: the action vector's share of the first layer
            action = np.asarray(action, dtype=self.dtype)
            if action.shape != (len(x), self.action_dim):
                raise ValueError(f"actions must be [B, {self.action_dim}] vectors, got shape {action.shape}")
            y += action @ edge_w
        else:
            action = np.asarray(action, dtype=np.intp)
            if action.shape != (len(x),) or (len(action) and (action.min() < 0 or action.max() >= num_edges)):
                raise ValueError(f"actions must be [B] integers in [0, {num_edges}), got {action!r}")
            y += edge_w[action]
        bias_layernorm_elu(y, first.dense.b, first.gamma, first.beta, first.eps)
        for layer in stack.hidden[1:]:
            y = layer(y)
        nxt = y @ stack.out.w
        _bias_scale_rows(nxt, stack.out.b, MIN_RANGE)
        return nxt

    def chance_step(self, latent: np.ndarray, edge: np.ndarray, from_chance: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The search step of a network with chance codes (mcts.chance's contract; the torch
        twin is search_model._chance_step): rows from a state make afterstates, rows from
        an afterstate make states."""
        x = np.ascontiguousarray(latent, dtype=self.dtype)
        from_chance = np.asarray(from_chance, dtype=bool).reshape(-1)
        edge = np.asarray(edge)
        batch, codes = len(x), self.chance_codes
        nxt = np.empty_like(x)
        reward, value = np.zeros(batch), np.empty(batch)
        logits = np.zeros((batch, max(codes, self.num_actions)))
        to_after, to_state = ~from_chance, from_chance
        if to_after.any():
            after = self._next_latent(x[to_after], edge[to_after])
            h = after
            for layer in self.after_trunk:
                h = layer(h)
            q = np.empty(len(after))
            _support_to_scalar(h @ self.after_value.w, self.after_value.b, self.support_size, H_EPS, q)
            nxt[to_after], value[to_after] = after, q
            logits[to_after, :codes] = h @ self.after_codes.w + self.after_codes.b
        if to_state.any():
            state = self._advance(self.chance_dynamics, self.chance_latent_w, self.chance_code_w, x[to_state],
                                  edge[to_state])
            r = np.empty(len(state))
            _support_to_scalar(self.reward.trunk(state) @ self.reward.out.w, self.reward.out.b, self.support_size,
                               H_EPS, r)
            v, policy = self._predict(state)
            nxt[to_state], reward[to_state], value[to_state] = state, r, v
            logits[to_state, :self.num_actions] = policy
        return nxt, reward, value, logits

    def recurrent_prefix(self, embedding: np.ndarray, action: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """SearchModel's value-prefix step on rows [latent, h, c, prefix, depth] (see its docstring)."""
        emb = np.ascontiguousarray(embedding, dtype=self.dtype)
        size, hidden = self.latent_dim, self.prefix.hidden
        nxt = self._next_latent(np.ascontiguousarray(emb[:, :size]), action)
        reset = np.remainder(emb[:, -1], self.prefix_horizon) == 0
        keep = (~reset).astype(self.dtype)[:, None]
        h, c = emb[:, size:size + hidden] * keep, emb[:, size + hidden:size + 2 * hidden] * keep
        h, c, logits = self.prefix.step(nxt, h, c)
        prefix = np.empty(len(emb))
        _support_to_scalar(logits, self.prefix.out.b, self.support_size, H_EPS, prefix)
        reward = prefix - np.where(reset, 0.0, emb[:, -2].astype(np.float64))
        value, policy = self._predict(nxt)
        row = np.concatenate([nxt, h, c, prefix.astype(self.dtype)[:, None], (emb[:, -1] + 1)[:, None]], axis=1)
        return row, reward, value, policy

    def recurrent(self, latent: np.ndarray, action: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(latent [B, L], action [B]) -> (next latent [B, L], reward, value (float64 [B]), logits float64 [B, A])."""
        x = np.ascontiguousarray(latent, dtype=self.dtype)
        nxt = self._next_latent(x, action)
        reward = np.empty(len(x))
        _support_to_scalar(self.reward.trunk(nxt) @ self.reward.out.w, self.reward.out.b, self.support_size,
                           H_EPS, reward)
        value, logits = self._predict(nxt)
        return nxt, reward, value, logits
